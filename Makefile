# Two commands: `make run` serves the platform with a demo study; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: run test lint messages clean

$(VENV)/.runtime: pyproject.toml
	@$(PYTHON) scripts/check_system.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

run: export DELPHI_BASE_URL ?= http://127.0.0.1:$(PORT)
run: $(VENV)/.runtime
	$(BIN)/delphi migrate
	$(BIN)/delphi demo
	$(BIN)/delphi serve --port $(PORT)

# The conformance checkers the browser tests run (axe-core, the Nu HTML Checker), pinned in
# package-lock.json; their install scripts are not run (vnu.jar runs on the machine's Java).
node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null; then npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm is missing: the accessibility and HTML checks will be skipped"; fi

test: $(VENV)/.dev node_modules/.installed
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check app tests benchmarks
	$(BIN)/mypy app
	$(BIN)/lint-imports

# Refresh the French catalogue after changing user-facing text (then translate the new entries).
messages: $(VENV)/.dev
	$(BIN)/pybabel extract -F babel.cfg -o app/translations/messages.pot --no-location --sort-output -k N_ -k gettext:2 -k Message app
	$(BIN)/pybabel update -i app/translations/messages.pot -d app/translations -l fr --no-fuzzy-matching --ignore-obsolete

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
