VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck bench clean browser prometheus system-packages

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Browser tests drive Debian's chromium; it comes from the system's package manager, never a download.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: run 'sudo apt-get install chromium'"; exit 1; fi; }

# The receiver's metrics test scrapes /metrics with Debian's Prometheus, installed the same way.
prometheus:
	@command -v prometheus >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	  else echo "prometheus is missing: run 'sudo apt-get install prometheus'"; exit 1; fi; }

system-packages: browser prometheus

install: $(STAMP) system-packages

demo: $(STAMP)
	$(VENV)/bin/fireline demo

lint: $(STAMP)
	$(VENV)/bin/ruff check engine integrations tests bench deploy/tools
	$(VENV)/bin/ruff format --check engine integrations tests bench deploy/tools

typecheck: $(STAMP)
	$(VENV)/bin/mypy engine integrations

test: install lint typecheck
	$(VENV)/bin/pytest -q

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf .fireline build *.egg-info
