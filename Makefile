# Handoff: `make run` (the demo, embedded) and `make test` (the whole suite) set up everything they need.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
export PORT

.PHONY: install system-packages run test lint serve bench clean

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

# System packages the suite drives: Debian's Chromium for the browser tests, and redis-server for
# the scale-out test when PostgreSQL and Redis are configured. Installed with apt-get where this
# user may (root or passwordless sudo); otherwise make stops at once, saying what to install.
SYSTEM_PACKAGES = chromium:/usr/bin/chromium
ifneq ($(and $(REDIS_URL),$(filter postgres%,$(DATABASE_URL))),)
SYSTEM_PACKAGES += redis-server:redis-server
endif

system-packages:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do \
	  package=$${pair%%:*}; program=$${pair#*:}; \
	  command -v "$$program" >/dev/null 2>&1 || missing="$$missing $$package"; \
	done; \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else echo "make test needs these Debian packages:$$missing. Install them (sudo apt-get install$$missing) and run make test again." >&2; exit 1; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
	  echo "make test needs$$missing (Debian's packages, at /usr/bin); install them with your system's package manager." >&2; exit 1; fi; \
	echo "Installing$$missing with apt-get"; \
	export DEBIAN_FRONTEND=noninteractive; \
	$$sudo apt-get update -qq && $$sudo apt-get install -y -qq$$missing >/dev/null \
	  || { echo "apt-get could not install$$missing; install them and run make test again." >&2; exit 1; }

test: system-packages install
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
	$(BIN)/python -m config.server -b $${BIND:-0.0.0.0} -p $(PORT) --proxy-headers config.asgi:application & \
	wait

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) db.sqlite3* staticfiles
