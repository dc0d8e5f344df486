# The few commands everyone runs. Each one sets up what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck format bench eval resilience clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv with marketbrief and its tools

run: install  ## migrate the embedded SQLite store and serve the API, dashboard and scheduler
	$(BIN)/marketbrief migrate
	$(BIN)/marketbrief serve

test: lint  ## lint, type-check, then run every test
	$(BIN)/pytest --cov=marketbrief --cov-report=term:skip-covered

lint: install  ## ruff (lint + format check) and mypy strict
	$(BIN)/ruff check src tests benchmarks resilience harness
	$(BIN)/ruff format --check src tests benchmarks resilience harness
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests benchmarks resilience harness
	$(BIN)/ruff check --fix src tests benchmarks resilience harness

bench: install  ## benchmarks, reported as side-by-side ratios
	$(BIN)/python -m benchmarks

eval: install  ## every sentiment model on held-out TFNS and our headlines; writes docs/sentiment.md
	$(BIN)/python -m benchmarks.sentiment

resilience: install  ## real faults against a running server; writes docs/resilience.md
	$(BIN)/python -m resilience

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
