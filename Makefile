# Orbit — `make run` to try it, `make test` to check it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := wsgi:app
I18N_SOURCES = $(wildcard core org surveys feedback evaluations templates)

.PHONY: run serve test lint pytest test-pg i18n i18n-extract i18n-update i18n-compile i18n-check \
	bench migrate demo clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Orbit needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-app: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	@touch $(VENV)/.installed-app $@

## run: create the virtualenv, install, migrate the SQLite database, load the demo, serve
run: $(VENV)/.installed-app
	ORBIT_ENV=development $(BIN)/flask db upgrade
	@if ORBIT_ENV=development $(BIN)/flask orbit is-empty; then ORBIT_ENV=development $(BIN)/flask orbit demo; \
	else echo "Database already has people; demo logins (if loaded): admin@demo.orbit / orbit-demo-2026"; fi
	@# The background worker (emails, reminders, automatic closing) runs beside the
	@# server and stops with it.
	trap 'kill 0' EXIT INT TERM; \
	ORBIT_ENV=development $(BIN)/flask orbit worker & \
	ORBIT_ENV=development $(BIN)/flask run --host $(HOST) --port $(PORT)

## test: lint, then the whole test suite (SQLite)
test: lint pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .

pytest: $(VENV)/.installed-test
	$(BIN)/python -m pytest

## test-pg: the whole suite against PostgreSQL ($(PG_URL))
test-pg: $(VENV)/.installed-test
	TEST_DATABASE_URL=$(PG_URL) $(BIN)/python -m pytest

## i18n: extract marked strings, update the catalogues, compile them
i18n: i18n-extract i18n-update i18n-compile

i18n-extract: $(VENV)/.installed-app
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k lazy_ngettext:1,2 -o translations/messages.pot --no-location --sort-output --project Orbit $(I18N_SOURCES)

i18n-update: $(VENV)/.installed-app
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete

i18n-compile: $(VENV)/.installed-app
	$(BIN)/pybabel compile -d translations --statistics

## i18n-check: fail if a marked string has no Chinese translation
i18n-check: $(VENV)/.installed-test
	$(BIN)/python -m pytest tests/test_translations.py -q

bench: $(VENV)/.installed-test
	$(BIN)/python bench/scoring.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
