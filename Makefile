# Huibo: the two commands are `make demo` and `make test` (see README.md).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/huibo
export REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: demo test lint services venv bench-engine bench-widget bench-billing clean

$(VENV)/.installed: pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "Huibo needs $(PYTHON) on PATH (or run: make PYTHON=/path/to/python3.11 ...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	touch $@

venv: $(VENV)/.installed

# The embedded default: SQLite, filesystem broker, the PBX simulator. No servers to install.
demo: venv
	env -u DATABASE_URL -u REDIS_URL DEBUG=1 $(PY) manage.py demo

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

services: venv
	$(PY) -m huibo.devservices

# pytest exits 5 when it collects nothing; that is not a failure of the suite.
test: lint services
	$(VENV)/bin/pytest $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && exit 0; exit $$rc

bench-engine: venv services
	$(PY) bench/engine.py

# 1,000,000 leg CDRs of 1,000 tenants in a database of its own: legs rated per second, the month's invoice run.
bench-billing: venv services
	$(PY) bench/billing.py

# The widget's submit endpoint on a real gunicorn: accepted/s, latency, and the same INSERTs and Redis calls bare.
bench-widget: venv services
	$(PY) bench/widget.py

clean:
	rm -rf $(VENV) var/* test-output
