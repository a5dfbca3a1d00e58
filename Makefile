# CareKey. `make` lists the targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements-dev.lock pyproject.toml | cksum | cut -d' ' -f1)
PYTEST_ARGS ?= -n 2 --dist loadgroup
CHROMIUM ?= /usr/bin/chromium
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.DEFAULT_GOAL := help
.PHONY: help install tools run test check lock bench bench-match clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): requirements-dev.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP) ## Create or update the virtual environment from the lock file

tools: ## Install what the tests drive from Debian (as root): Chromium for the browser tests, wrk for the bench run
	@missing=""; test -x $(CHROMIUM) || missing="chromium"; command -v wrk >/dev/null || missing="$$missing wrk"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "Missing: $$missing (Debian packages; the tests that need them skip without CI, fail under it)"; fi; fi

run: install ## Run the whole suite locally: SQLite files and an embedded queue under var/
	$(BIN)/carekey run

test: install tools ## Run every test (real PostgreSQL/RabbitMQ when DATABASE_URL/AMQP_URL are set)
	$(BIN)/pytest $(PYTEST_ARGS)

check: install ## Fail when a service's models and migrations disagree (on the embedded databases)
	$(BIN)/carekey db upgrade && $(BIN)/carekey db check

lock: install ## Re-resolve the dependency ranges in pyproject.toml into the lock files
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --generate-hashes -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra test --python-version 3.11 --generate-hashes -o requirements-dev.lock

BENCH_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
BENCH_AMQP_URL ?= amqp://guest:guest@127.0.0.1:5672//

BENCH_ARGS ?=
# make bench-match's databases: <prefix>_match, <prefix>_timing
BENCH_DB_PREFIX ?= carekey_bench

bench: install ## Every flow under gunicorn on PostgreSQL/RabbitMQ, driven by wrk; one table (bench/README.md)
	@command -v wrk >/dev/null || { test "$$(id -u)" = 0 && (apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }); } || { echo "make bench needs wrk: sudo apt-get install -y wrk" >&2; exit 1; }
	BENCH_DATABASE_URL=$(BENCH_DATABASE_URL) BENCH_AMQP_URL=$(BENCH_AMQP_URL) $(BIN)/python -m bench.run $(BENCH_ARGS)

bench-match: install ## Matching quality (FEBRL, census-style) and $match over a 1,000,000-patient roster in PostgreSQL (minutes)
	$(BIN)/python bench/matching_quality.py
	$(BIN)/python bench/match_scale.py --database-url $(BENCH_DATABASE_URL) --database $(BENCH_DB_PREFIX)_match
	$(BIN)/python bench/registration_timing.py --database-url $(BENCH_DATABASE_URL) --database $(BENCH_DB_PREFIX)_timing

clean: ## Remove the embedded databases and queue (var/)
	rm -rf var
