# Hourglass developer commands. `make run` and `make test` work on a fresh machine with Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format unit integration bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## start Hourglass embedded (SQLite under ./.hourglass/) on http://127.0.0.1:8080
	$(BIN)/hourglass up

lint: $(STAMP)  ## ruff format check, ruff lint, mypy --strict, import-linter layer contract
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# Test processes: most tests wait on sockets, subprocesses and databases rather than the CPU, so
# four processes finish the suite in about half the time even on two cores; a file's tests stay
# in one process (module-scoped servers and browsers are shared within a file).
TEST_PROCESSES ?= 4

test: lint  ## lint, type check and the whole test suite
	$(BIN)/pytest -n $(TEST_PROCESSES) --dist loadfile

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(STAMP)
	$(BIN)/python bench/jobs.py
	$(BIN)/python bench/logs.py

clean:
	rm -rf $(VENV) .hourglass .pytest_cache .mypy_cache .ruff_cache
