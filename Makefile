# Handoff: `make run` (the demo, embedded) and `make test` (the whole suite) set up everything they need.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
export PORT

.PHONY: install run test lint serve bench clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The embedded demo: SQLite, in-memory channel layer, tasks in-process, demo data and the sandbox.
run: install
	DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DEBUG=1 $(BIN)/python manage.py load_demo
	DEBUG=1 $(BIN)/python manage.py run_embedded --port $(PORT)

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	DEBUG=1 $(BIN)/mypy .

# The production shape on one machine: daphne, a Celery worker and Celery beat, configured from the environment.
serve: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v 0
	$(BIN)/python manage.py sync_number
	trap 'kill 0' EXIT INT TERM; \
	$(BIN)/celery -A config worker -l info --concurrency $${CELERY_CONCURRENCY:-4} & \
	$(BIN)/celery -A config beat -l info & \
	$(BIN)/daphne -b $${BIND:-0.0.0.0} -p $(PORT) --proxy-headers config.asgi:application & \
	wait

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) db.sqlite3* staticfiles
