# The README's commands.  Each target sets up what it needs (a .venv, the
# node packages, Debian packages) so it works on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST_ARGS ?=
# e.g. make demo DEMO_ARGS="--hub-port 8800 --host-port 8801"
DEMO_ARGS ?=

.PHONY: help setup demo test test-fast docs bench bench-quick lint clean

help:
	@echo "make demo        set up and run the demo (JupyterHub + EmbedSpawner + host page)"
	@echo "make test        set up and run the whole test suite and the docs build"
	@echo "make test-fast   same, without the slow end-to-end tests"
	@echo "make docs        build the docs into docs/_build/html"
	@echo "make bench       run the benchmarks (make bench-quick: < 2 minutes)"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,docs,bench]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.installed node_modules/.installed

demo: setup
	bash tools/system-deps.sh demo
	$(PY) -m jhembed.demo $(DEMO_ARGS)

test: setup
	bash tools/system-deps.sh test
	$(PY) -m pytest -ra $(PYTEST_ARGS)

test-fast: setup
	$(PY) -m pytest -ra -m "not slow" $(PYTEST_ARGS)

docs: setup
	$(PY) -m sphinx -W --keep-going -b html docs docs/_build/html

bench: setup
	bash tools/system-deps.sh bench
	$(PY) bench/run.py

bench-quick: setup
	bash tools/system-deps.sh bench
	$(PY) bench/run.py --quick

lint: setup
	$(VENV)/bin/ruff check jhembed tests bench

clean:
	rm -rf $(VENV) node_modules docs/_build .pytest_cache
