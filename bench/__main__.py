"""``python -m bench``: every figure, one local stack, one table."""

import os
import sys

from bench.run import main

code = main()
sys.stdout.flush()
sys.stderr.flush()
# The Temporal SDK's native threads can crash a normal interpreter shutdown once the work is
# done (PyGILState_Release during finalization), as the fireline CLI notes: leave without it.
os._exit(code)
