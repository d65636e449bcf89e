"""``python -m engine.cli.entry`` runs the CLI (used where the console script is not on PATH)."""

from engine.cli import main

if __name__ == "__main__":
    main()
