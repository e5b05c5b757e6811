# Clocher — the README's commands. `make run` and `make test` install what is missing.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
CLOCHER := $(VENV)/bin/clocher
SYSTEM_PYTHON ?= /usr/bin/python3
PYTEST_ARGS ?=
# Test files run in parallel worker processes (pytest-xdist), each file whole in one worker
# (tests/mail/ as one unit: see tests/conftest.py);
# module and session fixtures (mail servers, radosgw, namespaces) stay per process.
PYTEST_WORKERS ?= 3
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadfile

.PHONY: install run test test-sqlite test-postgres lint bench clean help box-deb

help:
	@echo "make run    — installe si besoin, initialise la démo et démarre la plateforme"
	@echo "make test   — installe si besoin et lance tous les tests (SQLite puis PostgreSQL)"
	@echo "make bench  — mesures de performance (bench/)"
	@echo "make lint   — ruff et mypy"
	@echo "make box-deb — paquet Debian de l'agent du boîtier (dist/clocher-box_*.deb)"

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml deploy/debian-packages.txt tests/e2e/package-lock.json
	scripts/install-debian-packages.sh
	test -x $(PY) || $(SYSTEM_PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	npm ci --prefix tests/e2e --no-audit --no-fund --silent
	touch $@

run: install
	$(CLOCHER) init --demo
	$(CLOCHER) serve

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy src

test: install lint test-sqlite test-postgres

test-sqlite: install
	$(VENV)/bin/pytest $(PYTEST_PARALLEL) $(PYTEST_ARGS)

test-postgres: install
	scripts/test-postgres.sh start
	CLOCHER_DATABASE_URL=$$(scripts/test-postgres.sh url) $(VENV)/bin/pytest $(PYTEST_PARALLEL) -m "not browser" $(PYTEST_ARGS); \
	  status=$$?; scripts/test-postgres.sh stop; exit $$status

bench: install
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

# The box agent as a Debian package (dpkg-deb from a staging tree; see docs/operations.md).
box-deb:
	PY=$(PY) scripts/build-box-deb.sh

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache artifacts
