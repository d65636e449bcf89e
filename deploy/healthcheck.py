#!/usr/bin/env python3
"""Container health check: GET /healthz on this container's own port (FIRELINE_HEALTH_PORT).

The receiver serves /healthz on its listen port (8787); the worker on its metrics port (9464).
Exit 0 when it answers 2xx, 1 otherwise (Docker's HEALTHCHECK contract).
"""

import os
import sys
import urllib.request

port = os.environ.get("FIRELINE_HEALTH_PORT", "8787")
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=4) as response:
        sys.exit(0 if 200 <= response.status < 300 else 1)
except Exception as exc:  # any failure means unhealthy
    print(f"unhealthy: {exc}", file=sys.stderr)
    sys.exit(1)
