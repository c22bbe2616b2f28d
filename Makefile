# Everything here works on a fresh machine: `make test` and `make bench`
# create the virtualenv, install what they need and build first.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
# The interpreters `make test-all` and `make conformance-all` cover.
PYTHONS ?= 3.10 3.11 3.12 3.13

.PHONY: all setup compile debug test test-all bench bench-quick bench-tls lint \
        conformance conformance-all clean

all: compile

$(VENV)/.ready: requirements-test.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements-test.txt
	touch $@

$(VENV)/.bench-ready: $(VENV)/.ready requirements-bench.txt
	$(PIP) install -r requirements-bench.txt
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) \
	  || echo "wrk could not be installed: the HTTP cells will say n/a"
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || \
	  (apt-get update -qq && RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive \
	   apt-get install -y -qq postgresql) \
	  || echo "PostgreSQL could not be installed: the asyncpg cells will say n/a"
	@test -e /usr/include/openssl/ssl.h || (apt-get update -qq && apt-get install -y -qq libssl-dev) \
	  || echo "libssl-dev could not be installed: bench-tls runs without its C server and client"
	touch $@

$(VENV)/.dev-ready: $(VENV)/.ready requirements-dev.txt
	$(PIP) install -r requirements-dev.txt
	touch $@

setup: $(VENV)/.ready

compile: setup
	$(PY) setup.py -q build_ext --inplace

debug: setup
	LOOP_DEBUG=1 $(PY) setup.py -q build_ext --inplace --force

test: compile
	PYTHONPATH=src $(PY) -m pytest -q tests

# Each interpreter gets its own venv and its own extension file (the
# file name carries the ABI tag), so all four coexist in src/loop.
test-all:
	@set -e; for v in $(PYTHONS); do \
	  py=$$(ls -d $$HOME/.pyenv/versions/$$v.*/bin/python 2>/dev/null | tail -1); \
	  [ -n "$$py" ] || py=python$$v; \
	  echo "== Python $$v ($$py)"; \
	  $(MAKE) --no-print-directory test PYTHON=$$py VENV=.venv-$$v; \
	done

bench: compile $(VENV)/.bench-ready
	PYTHONPATH=src $(PY) benchmarks/run.py

bench-quick: compile $(VENV)/.bench-ready
	PYTHONPATH=src $(PY) benchmarks/run.py --quick

# TLS echo / HTTPS / handshakes against asyncio and uvloop, with the C
# ceiling (docs/benchmarks.md, "TLS").
bench-tls: compile $(VENV)/.bench-ready
	PYTHONPATH=src $(PY) benchmarks/tls_echo.py --loops asyncio,uvloop,loop --rounds 5

conformance: compile
	PYTHONPATH=src $(PY) tests/conformance/run.py

conformance-all: compile
	$(PY) tests/conformance/run.py --all-pythons

lint: $(VENV)/.dev-ready
	$(PY) -m ruff check src/loop tests benchmarks scripts/*.py
	PATH="$(abspath $(VENV))/bin:$$PATH" cython-lint --max-line-length 100 src/_epoll.pyx src/core src/loop/_epoll.pxd

clean:
	rm -rf build src/loop/*.so src/loop/__pycache__

# -- packaging and reliability (each a script of its own) ------------------

.PHONY: wheels sdist stubtest typecheck stress stress-ci valgrind asan asan-ci \
        integration

wheels:
	bash scripts/build_wheels.sh

sdist: setup
	bash scripts/check_sdist.sh

stubtest: $(VENV)/.dev-ready compile
	PYTHONPATH=src $(PY) -m mypy.stubtest loop._epoll --allowlist scripts/stubtest-allowlist.txt

# mypy --strict on the package ([tool.mypy] in pyproject.toml), as each
# supported Python sees the sources and asyncio's stubs.
typecheck: setup
	@for v in 3.10 3.11 3.12 3.13 3.14; do \
	  echo "== mypy --strict, Python $$v"; \
	  $(PY) -m mypy --python-version $$v || exit 1; \
	done

stress: compile
	PYTHONPATH=src $(PY) -m pytest -q tests/stress

stress-ci: compile
	PYTHONPATH=src LOOP_STRESS_SHORT=1 $(PY) -m pytest -q tests/stress

valgrind: compile
	bash scripts/valgrind.sh

# The test suite against an AddressSanitizer + UBSan build (clang), made in
# a temporary copy of the committed tree; asan-ci is the CI subset.
asan: setup
	bash scripts/asan.sh

asan-ci: setup
	ASAN_SHORT=1 bash scripts/asan.sh

# Real libraries (uvicorn, aiohttp, asyncpg, redis-py, httpx, websockets,
# pytest plugins) against throwaway PostgreSQL and Redis servers, on both
# loops: docs/integration.md.
integration: compile
	PY=$(PY) bash scripts/integration.sh
