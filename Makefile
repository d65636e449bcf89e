VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/fireline demo

lint: $(STAMP)
	$(VENV)/bin/ruff check engine integrations tests bench
	$(VENV)/bin/ruff format --check engine integrations tests bench

typecheck: $(STAMP)
	$(VENV)/bin/mypy engine

test: lint typecheck
	$(VENV)/bin/pytest -q

bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf .fireline build *.egg-info
