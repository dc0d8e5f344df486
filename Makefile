# The few commands everyone runs. Each one sets up what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev

.PHONY: install install-dev run demo test lint typecheck format bench calibrate eval resilience clean

# What running needs: marketbrief and its runtime dependencies, pinned by requirements.lock.
$(RUNTIME): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e .
	touch $(RUNTIME)

# The tools for tests, lint, benchmarks and the resilience run, on top of the runtime.
$(DEV): $(RUNTIME)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(DEV)

install: $(RUNTIME)  ## create .venv with marketbrief and what running it needs

install-dev: $(DEV)  ## add the test, lint and benchmark tools

run: install  ## migrate the embedded SQLite store and serve the API, dashboard and scheduler
	$(BIN)/marketbrief migrate
	$(BIN)/marketbrief serve

demo: install  ## seed a fresh database with two weeks of sample reports (offline; see README)
	$(BIN)/marketbrief demo

test: lint  ## lint, type-check, then run every test
	$(BIN)/pytest --cov=marketbrief --cov-report=term:skip-covered

lint: install-dev  ## ruff (lint + format check) and mypy strict
	$(BIN)/ruff check src tests benchmarks resilience harness
	$(BIN)/ruff format --check src tests benchmarks resilience harness
	$(BIN)/mypy

format: install-dev
	$(BIN)/ruff format src tests benchmarks resilience harness
	$(BIN)/ruff check --fix src tests benchmarks resilience harness

bench: install-dev  ## benchmarks, reported as side-by-side ratios
	$(BIN)/python -m benchmarks

calibrate: install-dev  ## confidence bucket -> observed hit rate on held-out TFNS; writes docs/calibration.md
	$(BIN)/python -m benchmarks.calibration

eval: install-dev  ## every sentiment model on held-out TFNS and our headlines; writes docs/sentiment.md
	$(BIN)/python -m benchmarks.sentiment

resilience: install-dev  ## real faults against a running server; writes docs/resilience.md
	$(BIN)/python -m resilience

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
