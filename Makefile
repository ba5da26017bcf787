# Import Center — the two commands a user needs: `make run` and `make test`.
# Both work on a fresh checkout with nothing but Python 3.11: they create .venv and install
# the pinned dependencies from requirements/dev.lock first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed
# The BigQuery emulator's own venv (its pins clash with the main one), for the connector tests.
BQEMU_VENV ?= $(CURDIR)/var/bqemu-venv
BQEMU_STAMP := $(BQEMU_VENV)/.ic-setup-ok
PORT ?= 8000
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install run test lint format bench clean

install: $(STAMP) $(BQEMU_STAMP)

$(STAMP): requirements/dev.lock Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements/dev.lock
	@# The project's packages on the venv's path, so `.venv/bin/python -m validation` works
	@# from any directory (the project is an application, not an installable package).
	@$(BIN)/python -c 'import pathlib, sys, sysconfig; pathlib.Path(sysconfig.get_paths()["purelib"], "import_center.pth").write_text(sys.argv[1] + "\n")' "$(CURDIR)"
	@touch $@

# setup.sh is idempotent and writes this stamp last; make skips it while the stamp is newer.
$(BQEMU_STAMP): scripts/bqemulator/setup.sh
	@BQEMU_VENV=$(BQEMU_VENV) bash scripts/bqemulator/setup.sh

run: install
	DEBUG=1 $(BIN)/python manage.py migrate --no-input -v 0
	DEBUG=1 $(BIN)/python manage.py seed_demo --history-days 30 --background $(SEED_ARGS)
	@echo
	@echo "  Import Center is starting at http://127.0.0.1:$(PORT)/  (Ctrl-C stops everything)"
	@echo
	DEBUG=1 PORT=$(PORT) SITE_URL=$${SITE_URL:-http://127.0.0.1:$(PORT)} $(BIN)/honcho start -f Procfile

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/validation.py
	$(BIN)/python bench/connectors.py
	$(BIN)/python bench/pages.py
	$(BIN)/python bench/pages_stats.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/exports.py
	$(BIN)/python bench/alerts.py
	$(BIN)/python bench/import_e2e.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
