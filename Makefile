# The README's commands.  Each target sets up what it needs (a .venv, the
# node packages, Debian packages) so it works on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# the second JupyterHub line the suite runs on: tests marked `hub` run here again
VENV5  := .venv-jh5
PY5    := $(VENV5)/bin/python
JH5    ?= jupyterhub<6
# on JupyterHub 5: every test that starts a Hub, of the browser tests those marked jh5,
# without the nginx/Apache configs (marker deploy: they do not depend on the Hub version)
JH5_TESTS := hub and (not browser or jh5) and not deploy
PYTEST_ARGS ?=
# e.g. make demo DEMO_ARGS="--hub-port 8800 --host-port 8801"
DEMO_ARGS ?=

.PHONY: help setup demo test test-jh5 test-fast docs bench bench-quick lint clean

help:
	@echo "make demo        set up and run the demo (JupyterHub + EmbedSpawner + host page)"
	@echo "make test        set up and run the whole test suite and the docs build"
	@echo "make test-jh5    only the tests that start a Hub, on JupyterHub 5 (.venv-jh5)"
	@echo "make test-fast   the suite without the slow end-to-end tests"
	@echo "make docs        build the docs into docs/_build/html"
	@echo "make bench       run the benchmarks (make bench-quick: < 2 minutes)"

$(PY):
	$(PYTHON) -m venv $(VENV)

# tests/entry-points.txt: jupyter-server-proxy packages, in a directory of their own
# so that only the tests about entry points see them (on PYTHONPATH).
# tests/jsp-standalone.txt: the jupyter-server-proxy sdist whose own standalone tests
# run against our proxy (only its sdist has tests/; its build needs jupyterlab's wheel,
# so --no-binary names the package, not :all:).
# The stamps hold a checksum of what they were made from: a checkout or merge that
# touches the files without changing them (make compares times) installs nothing.
$(VENV)/.installed: pyproject.toml tests/entry-points.txt tests/jsp-standalone.txt | $(PY)
	@if [ "$$(cat $@ 2>/dev/null)" = "$$(cat $^ | sha256sum)" ]; then touch $@; else \
	  set -e; echo "installing into $(VENV)"; \
	  $(PY) -m pip install -q --upgrade pip; \
	  $(PY) -m pip install -q -e '.[test,docs,bench,apps]'; \
	  rm -rf $(VENV)/entry-points; \
	  $(PY) -m pip install -q --no-deps --target $(VENV)/entry-points -r tests/entry-points.txt; \
	  rm -rf $(VENV)/jsp-sdist; \
	  $(PY) -m pip download -q --no-deps --no-binary jupyter-server-proxy \
	    -d $(VENV)/jsp-sdist -r tests/jsp-standalone.txt; \
	  cat $^ | sha256sum > $@; fi

$(PY5):
	$(PYTHON) -m venv $(VENV5)

$(VENV5)/.installed: pyproject.toml | $(PY5)
	@if [ "$$(cat $@ 2>/dev/null)" = "$$(cat $^ | sha256sum)" ]; then touch $@; else \
	  set -e; echo "installing into $(VENV5)"; \
	  $(PY5) -m pip install -q --upgrade pip; \
	  $(PY5) -m pip install -q -e '.[test,docs]' '$(JH5)'; \
	  cat $^ | sha256sum > $@; fi

node_modules/.installed: package.json package-lock.json
	@if [ "$$(cat $@ 2>/dev/null)" = "$$(cat $^ | sha256sum)" ]; then touch $@; else \
	  set -e; npm ci --no-audit --no-fund --loglevel=error; \
	  cat $^ | sha256sum > $@; fi

setup: $(VENV)/.installed node_modules/.installed

demo: setup
	bash tools/system-deps.sh demo
	$(PY) -m jhembed.demo $(DEMO_ARGS)

# the whole suite on the newest JupyterHub 6, then every test that starts a Hub
# (marker `hub`) on the newest JupyterHub 5; both always run, either failing fails
test: setup $(VENV5)/.installed
	bash tools/system-deps.sh test
	@rc=0; \
	JHEMBED_EXPECT_JUPYTERHUB=6 $(PY) -m pytest -ra --durations=15 $(PYTEST_ARGS) || rc=1; \
	echo "== the same Hub tests on JupyterHub 5 ($$($(PY5) -c 'import jupyterhub; print(jupyterhub.__version__)')) =="; \
	JHEMBED_EXPECT_JUPYTERHUB=5 $(PY5) -m pytest -ra --durations=15 -m '$(JH5_TESTS)' $(PYTEST_ARGS) || rc=1; \
	exit $$rc

# only the JupyterHub 5 run
test-jh5: setup $(VENV5)/.installed
	bash tools/system-deps.sh test
	JHEMBED_EXPECT_JUPYTERHUB=5 $(PY5) -m pytest -ra -m '$(JH5_TESTS)' $(PYTEST_ARGS)

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
	rm -rf $(VENV) $(VENV5) node_modules docs/_build .pytest_cache
