# Two commands: `make run` (portal on http://127.0.0.1:8000) and `make test` (whole suite).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# PostgreSQL and Redis used by the test suite (integration tests, real Celery worker).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/portal
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15

.PHONY: run worker beat test install install-dev lint train cv evaluate clean

# torch and torchvision come first and pinned: pip takes them from the machine's wheel store;
# any other resolver or version would download several GB of CUDA wheels.
$(BIN)/.installed: requirements.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(BIN)/.installed-dev: $(BIN)/.installed requirements-dev.txt
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

# Translations: compiled with Babel (pure Python), so no GNU gettext is needed anywhere.
MO_FILES := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/*.po))
%.mo: %.po $(BIN)/.installed
	$(BIN)/pybabel -q compile -i $< -o $@

install: $(BIN)/.installed $(MO_FILES)
install-dev: $(BIN)/.installed-dev $(MO_FILES)

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py load_model
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

# The worker also serves the small "maintenance" queue (the sweeper); `make beat` schedules it
# (exactly one beat per deployment).
worker: install
	$(BIN)/celery -A portal worker -Q inference,maintenance -l INFO --concurrency $${WORKER_CONCURRENCY:-1}

beat: install
	mkdir -p var
	$(BIN)/celery -A portal beat -l INFO --schedule var/celerybeat-schedule

test: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} \
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-$(TEST_BROKER_URL)} \
	CACHE_URL=$${CACHE_URL:-$${CELERY_BROKER_URL:-$(TEST_BROKER_URL)}} \
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

# Final model on all of cxr3 (exports inference/weights/); `make cv` runs grouped 5-fold CV first.
train: install
	$(BIN)/python -m inference.train $(TRAIN_ARGS)

cv: install
	$(BIN)/python -m inference.train --folds 5 $(TRAIN_ARGS)

evaluate: install
	$(BIN)/python -m inference.evaluate --data ../shared/datasets/cxr3 $(EVAL_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
