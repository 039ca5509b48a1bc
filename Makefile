# The README's two commands: `make run` and `make test`. Everything else is a helper.
PY ?= $(shell command -v python3.13 || command -v python3.12 || command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run serve migrate demo test lint fmt clean system-deps bench

$(STAMP): pyproject.toml
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "o2o needs Python 3.11 or newer (set PY=/path/to/python3.11)")'
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/o2o migrate

demo: migrate
	$(BIN)/o2o demo

# Set up, migrate the SQLite file under ./var/, seed the demo, print the logins, serve.
run: demo
	@echo "Serving on http://$(HOST):$(PORT)  (API under /api/v1, docs at /schema)"
	$(BIN)/o2o serve --host $(HOST) --port $(PORT)

serve: install
	$(BIN)/o2o serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# The whole suite: lint, then every test on SQLite, and again on PostgreSQL when
# O2O_TEST_POSTGRES_URL is set (CI sets and requires it).
test: lint
	$(BIN)/pytest

# Debian packages the QR tests use to decode images (they skip, saying so, without them).
system-deps:
	apt-get update -qq && apt-get install -y -qq zbar-tools librsvg2-bin

# Benchmarks print figures; they assert nothing.
bench: install
	$(BIN)/python bench/codes_bench.py

fmt: install
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
