# The one entry point for set-up, running and testing; README and CI call these targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.SHELLFLAGS := -eu -o pipefail -c

VENV ?= .venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
MODEL := models/meso.tar.gz
RESULTS := results
# The packages, from the domain up (docs/architecture.md).
PACKAGES := bot rasa_server channels components actions tooling
TRAIN_DATA := domain.yml $(wildcard data/nlu/*.yml data/rules/*.yml)
# The topic reader also learns each topic's canonical question (data/faq/topics/).
TRAIN_INPUTS := config.yml $(wildcard components/*.py data/faq/topics/*.yml) \
  bot/embedding.py bot/classifier.py bot/reading.py bot/retrieval.py $(TRAIN_DATA)
BASELINE := models/baseline-rasa-init.tar.gz
# pytest's processes in `make test`: each takes a whole test file at a time, so a file's
# servers (started once per file) are shared by its tests.
TEST_WORKERS ?= 2

export RASA_PORT ?= 5005
export ACTION_PORT ?= 5055
export ACTION_ENDPOINT_HOST ?= localhost
# Offline by design: nothing is fetched from a model hub at run time.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2

# Python 3.10 (Rasa 3.6 needs < 3.11): $(PYTHON) if given, else python3.10 on PATH
# (pyenv reads .python-version), else a pyenv-installed 3.10.
define find_python310
for candidate in $(PYTHON) python3.10 $$HOME/.pyenv/versions/3.10*/bin/python3.10 /usr/bin/python3.10; do \
  if "$$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then \
    echo "$$candidate"; break; fi; done
endef

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# $(call make_venv,DIR,LOCK FILES): a new virtual environment in DIR with exactly the pinned
# packages of the lock files (--no-deps: the locks are complete), checked with pip check.
define make_venv
@python310="$$($(find_python310))"; \
if [ -z "$$python310" ]; then \
  echo "error: Python 3.10 is required (Rasa 3.6.21 supports Python < 3.11) and none was found." >&2; \
  echo "Install it (for example: pyenv install 3.10.13, or apt-get install python3.10 python3.10-venv)," >&2; \
  echo "or point to one with: make PYTHON=/path/to/python3.10 ..." >&2; exit 1; fi; \
echo "Creating $(1) with $$python310"; \
rm -rf $(1); "$$python310" -m venv $(1)
$(1)/bin/pip install --quiet --disable-pip-version-check pip==24.2
$(1)/bin/pip install --quiet --disable-pip-version-check --no-deps $(foreach lock,$(2),-r $(lock))
$(1)/bin/pip check
touch $(1)/.installed
endef

$(VENV)/.installed: requirements/runtime.lock requirements/dev.lock
	$(call make_venv,$(VENV),requirements/runtime.lock requirements/dev.lock)

# The stock bot make bench compares with: a plain `pip install rasa==3.6.21`, frozen.
STOCK_VENV := .venv-stock
$(STOCK_VENV)/.installed: bench/stock/requirements.lock
	$(call make_venv,$(STOCK_VENV),bench/stock/requirements.lock)

.PHONY: venv
venv: $(VENV)/.installed ## create the virtual environment with the pinned packages

.PHONY: validate
validate: venv ## check the knowledge base, safety rules, clinic details and training data
	$(PY) -m tooling validate
	$(RASA) data validate --fail-on-warnings --data data/nlu data/rules --domain domain.yml --config config.yml

$(MODEL): $(TRAIN_INPUTS) $(VENV)/.installed
	$(PY) -m tooling validate
	$(RASA) train --data data/nlu data/rules --domain domain.yml --config config.yml \
	  --out models --fixed-model-name meso

.PHONY: train
train: $(MODEL) ## train the model when data or config changed

.PHONY: tune
tune: venv ## retrieval alone on tests/dev_questions.yml: precision@1, MRR, thresholds, latency, BM25
	$(PY) -m tooling tune $(if $(MODELS),--models $(MODELS))

.PHONY: tune-reader
tune-reader: venv ## the topic reader's settings (C, thresholds, context) on the dev sets (READER_LANGUAGE=es: Spanish)
	$(PY) -m tooling tune-reader $(if $(READER_LANGUAGE),--language $(READER_LANGUAGE))

SINCE ?= 30d
.PHONY: report
report: venv ## the clinic's report (SINCE=30d, 12h, 2w or 2026-11-01): results/report.json and report.html
	$(PY) -m tooling report --since "$(SINCE)"

.PHONY: review
review: venv ## the review queue since SINCE as Rasa NLU YAML (results/review.yml); MARK=1 marks it reviewed
	$(PY) -m tooling review --since "$(SINCE)" $(if $(MARK),--mark-reviewed)

.PHONY: bench-report
bench-report: venv ## time make report over 100,000 generated conversations on SQLite
	$(PY) -m tooling.report_bench

.PHONY: safety
safety: venv ## the red-flag screen alone on the safety test sets: recall and false alarms
	$(PY) -m pytest -q -s -p no:cacheprovider tests/bot/test_safety.py -k escalated

# The baseline make eval compares the bot with: Rasa's default configuration (what
# `rasa init` generates) trained on the same data.
$(BASELINE): bench/rasa_init/config.yml $(TRAIN_DATA) $(VENV)/.installed
	$(RASA) train --data data/nlu data/rules --domain domain.yml --config bench/rasa_init/config.yml \
	  --out models --fixed-model-name baseline-rasa-init

.PHONY: baseline
baseline: $(BASELINE) ## train Rasa's default configuration (rasa init) on the same data

.PHONY: eval
eval: train baseline ## the bot over REST and the baselines (SET=dev for the dev sets; default held-out)
	$(PY) -m tooling eval $(if $(SET),--set $(SET),--readme)

.PHONY: crossval
crossval: venv ## rasa test nlu --cross-validation (3 folds) with the project's configuration
	$(RASA) test nlu --cross-validation --folds 3 --config config.yml --nlu data/nlu \
	  --out $(RESULTS)/crossval --no-plot

.PHONY: bench
bench: train $(STOCK_VENV)/.installed ## this bot beside the stock rasa init bot: speed, memory, training
	$(PY) -m tooling bench --readme $(BENCH_ARGS)

.PHONY: load
load: train ## soak: 50 conversations for 3 minutes; errors, latency per minute, memory growth
	$(PY) -m tooling load $(LOAD_ARGS)

.PHONY: run
run: train ## set up, train if needed, and run the bot (REST and socket.io on RASA_PORT)
	$(PY) -m tooling serve

.PHONY: shell
shell: train ## chat with the bot in the terminal
	$(PY) -m tooling shell

.PHONY: lint
lint: venv ## ruff and mypy over every package and the tests
	$(VENV)/bin/ruff check $(PACKAGES) tests
	$(VENV)/bin/mypy $(PACKAGES) tests

# Debian packages the browser, fault and scale-out tests need, installed when missing.
.PHONY: system-packages
system-packages: ## install the Debian packages the tests use (chromium, postgresql, redis, nginx)
	scripts/system-packages

.PHONY: test
test: system-packages lint validate train ## everything: lint, types, data checks, unit and end-to-end tests, test stories
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile
	$(PY) -m rasa_server test core --e2e --model $(MODEL) --stories tests/test_stories.yml \
	  --endpoints endpoints.yml --fail-on-prediction-errors --out $(RESULTS)/stories

.PHONY: clean
clean: ## remove trained models and results (keeps the virtual environment)
	rm -rf models $(RESULTS) .pytest_cache .mypy_cache .ruff_cache
