# Two commands on a fresh machine: `make run` and `make test`.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
POSTGRES_URL ?= postgresql+psycopg2://postgres@127.0.0.1:5432/test
# The demo stack gives customers 30 s to confirm receipt instead of 48 h.
DEMO_CONFIRMATION_WINDOW ?= 30

# `make chaos`: the crash tests at full size, on PostgreSQL unless CHAOS_DATABASE_URL says otherwise
# (empty: SQLite, where the database outage scenario is skipped).
CHAOS_ORDERS ?= 200
CHAOS_OUTAGE_SECONDS ?= 30
CHAOS_DATABASE_URL ?= $(POSTGRES_URL)

# `make fuzz`: the schemathesis test at length, from a new seed each run (it prints the seed;
# FUZZ_SEED=N repeats that run). `make test` runs it small, from a fixed seed.
FUZZ_EXAMPLES ?= 100
FUZZ_SEED ?= random

# `make test` runs the suite in this many processes, a test file to each (the slow files
# first); 1 runs it in one. On SQLite two took 264 s instead of 426. xdist hands out the
# files with the most tests first unless told not to, which left the one-test fuzzer to run
# alone at the end of the PostgreSQL pass.
TEST_WORKERS ?= 2
PYTEST_PARALLEL := $(if $(filter-out 0 1,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder)

.PHONY: install run demo test test-sqlite test-postgres chaos fuzz bench load lint format migrate clean

PACKAGES := activities api config domain integrations orderflow store workers workflows

install: $(VENV)/.installed

# Two installs at once in one checkout (two terminals, a script and a person) take turns on a
# lock (flock, from util-linux, where it exists): the second then finds the venv up to date
# instead of installing over the first. pip stays the one the venv came with: upgrading it
# made pip replace itself under a concurrent pip.
FLOCK := $(if $(shell command -v flock 2>/dev/null),flock $(abspath $(firstword $(MAKEFILE_LIST))))

$(VENV)/.installed: pyproject.toml
ifeq ($(INSTALL_LOCKED),)
	@$(FLOCK) $(MAKE) --no-print-directory INSTALL_LOCKED=1 $@
else
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@# An editable install leaves the project's own modules uncompiled, and where
	@# PYTHONDONTWRITEBYTECODE is set nothing compiles them for good: every process, and the
	@# workflow sandbox every run, would compile them again (docs/benchmarks.md).
	$(BIN)/python -m compileall -q $(PACKAGES)
	touch $@
endif

run: install
	ORDERFLOW_CONFIRMATION_WINDOW_SECONDS=$${ORDERFLOW_CONFIRMATION_WINDOW_SECONDS:-$(DEMO_CONFIRMATION_WINDOW)} \
		$(BIN)/orderflow dev

demo: install
	$(BIN)/orderflow demo

migrate: install
	$(BIN)/orderflow migrate --seed

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/pytest $(PYTEST_PARALLEL)

test-sqlite: test

test-postgres: lint
	ORDERFLOW_TEST_DATABASE_URL=$(POSTGRES_URL) $(BIN)/pytest $(PYTEST_PARALLEL)

chaos: install
	ORDERFLOW_TEST_DATABASE_URL=$(CHAOS_DATABASE_URL) ORDERFLOW_EVERY_DATABASE=1 \
	ORDERFLOW_CHAOS_ORDERS=$(CHAOS_ORDERS) \
	ORDERFLOW_CHAOS_OUTAGE_SECONDS=$(CHAOS_OUTAGE_SECONDS) \
		$(BIN)/pytest -m chaos tests/chaos

fuzz: install
	ORDERFLOW_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) ORDERFLOW_FUZZ_SEED=$(FUZZ_SEED) ORDERFLOW_EVERY_DATABASE=1 \
		$(BIN)/pytest -s tests/api/test_fuzz.py

# Compiled again first: a module edited since the install would be compiled by every process.
bench: install
	$(BIN)/python -m compileall -q $(PACKAGES)
	$(BIN)/orderflow bench

load: install
	$(BIN)/python -m compileall -q $(PACKAGES)
	$(BIN)/orderflow load --rate 20 --duration 30

clean:
	rm -rf .data .pytest_cache .ruff_cache
