#!/bin/sh
# Container entrypoint: check the configuration before a long-running service starts, so a bad
# setting stops the container at once with a clear message instead of failing later, then hand
# over to `fireline` (PID 1 becomes fireline itself, which receives SIGTERM directly).
set -eu

case "${1:-}" in
  worker|receiver|up)
    if ! python -m engine.config_check check >&2; then
      echo "fireline: the configuration check failed; not starting '$1'" >&2
      exit 78  # EX_CONFIG
    fi
    ;;
esac
exec fireline "$@"
