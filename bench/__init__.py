"""fireline benchmarks: the engine next to hand-written temporalio code, on one local server.

Run everything with ``python -m bench`` (``make bench``). Keep this package's import light:
the workflow sandbox imports ``bench.baseline`` and with it this file.
"""
