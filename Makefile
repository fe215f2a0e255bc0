# Entry points for a newcomer: `make run` serves the product, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
STAMP := $(VENV)/.installed

# The embedded default for local runs: SQLite, in-memory channel layer, in-process tasks.
RUN_ENV := DEBUG=$${DEBUG:-1}
# Tests run with production settings (DEBUG off) and whatever DATABASE_URL/REDIS_URL say.
TEST_ENV := SECRET_KEY=$${SECRET_KEY:-test-secret-key} SECURE_SSL_REDIRECT=0

.PHONY: install run prod test lint format migrate seed worker bench browser clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	$(RUN_ENV) $(BIN)/python manage.py migrate --noinput

run: migrate
	$(RUN_ENV) $(BIN)/python manage.py seed_demo
	$(RUN_ENV) $(BIN)/python manage.py agent_login
	@echo "Serving on http://$(HOST):$(PORT)/  (admin: http://$(HOST):$(PORT)/admin/)"
	$(RUN_ENV) $(BIN)/uvicorn supportbot.asgi:application --host $(HOST) --port $(PORT) --lifespan off --ws-max-size 65536 --ws-per-message-deflate false

# The production shape locally: PostgreSQL + Redis, WEB_PROCESSES uvicorn processes, a tools
# worker, a background worker and beat, under honcho (supportbot/Procfile).
PROD_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/supportbot
PROD_REDIS_URL ?= redis://127.0.0.1:6379/0
WEB_PROCESSES ?= 2
TOOL_CONCURRENCY ?= 8
PROD_ENV := DATABASE_URL=$${DATABASE_URL:-$(PROD_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(PROD_REDIS_URL)} \
	SECRET_KEY=$${SECRET_KEY:-$$(cat var/secret_key)} DEBUG=0 SECURE_SSL_REDIRECT=0 \
	ALLOWED_HOSTS=$${ALLOWED_HOSTS:-127.0.0.1,localhost} DB_POOL_MAX_SIZE=$${DB_POOL_MAX_SIZE:-20} \
	HOST=$(HOST) PORT=$(PORT) WEB_PROCESSES=$(WEB_PROCESSES) TOOL_CONCURRENCY=$(TOOL_CONCURRENCY)

prod: install
	@mkdir -p var && test -s var/secret_key || $(BIN)/python -c "import secrets; print(secrets.token_urlsafe(50))" > var/secret_key
	@echo "Production shape on $${DATABASE_URL:-$(PROD_DATABASE_URL)} and $${REDIS_URL:-$(PROD_REDIS_URL)}: $(WEB_PROCESSES) web processes, tools and background workers, beat"
	@$(PROD_ENV) $(BIN)/python manage.py database_create
	$(PROD_ENV) $(BIN)/python manage.py migrate --noinput
	$(PROD_ENV) $(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(PROD_ENV) $(BIN)/python manage.py seed_demo
	$(PROD_ENV) $(BIN)/python manage.py agent_login
	@echo "Serving on http://$(HOST):$(PORT)/  (Ctrl-C stops every process)"
	$(PROD_ENV) PATH=$(BIN):$$PATH $(BIN)/honcho -f supportbot/Procfile -d . start

worker: install
	$(BIN)/celery -A supportbot worker -Q tools,background --loglevel INFO

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

browser:
	@bash .ci/install-chromium

test: install browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(TEST_ENV) $(BIN)/python manage.py makemigrations --check --dry-run
	$(TEST_ENV) $(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	@for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
