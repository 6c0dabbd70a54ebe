# rekey: `make demo` runs the product on an embedded emulator; `make test` runs what CI runs.
# Both create .venv with pinned dependencies when it is missing or out of date.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint unit integration e2e bench clean tools consumers browser

$(STAMP): requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

# aws-sam-cli in its own venv: it pins boto3/pydantic versions the app's .venv does not use.
TOOLS := .tools/sam
TOOLS_STAMP := $(TOOLS)/.installed

$(TOOLS_STAMP): tools/requirements-sam.txt
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install -q --upgrade pip
	$(TOOLS)/bin/python -m pip install -q -r tools/requirements-sam.txt
	touch $(TOOLS_STAMP)

tools: $(TOOLS_STAMP)

# The consumers' own clients (AWS CLI v1, boto3, aws-secretsmanager-caching) for the e2e tests
# that run them as a consumer would, in their own venv: the CLI pins its own botocore.
CONSUMERS := .tools/consumers
CONSUMERS_STAMP := $(CONSUMERS)/.installed

$(CONSUMERS_STAMP): tools/requirements-consumers.txt
	test -x $(CONSUMERS)/bin/python || $(PYTHON) -m venv $(CONSUMERS)
	$(CONSUMERS)/bin/python -m pip install -q --upgrade pip
	$(CONSUMERS)/bin/python -m pip install -q -r tools/requirements-consumers.txt
	touch $(CONSUMERS_STAMP)

consumers: $(CONSUMERS_STAMP)

demo: $(STAMP)
	$(BIN)/rekey demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Headless Chromium for the HTML report's test: installed when missing and root (CI).
browser:
	@bash tools/ensure-chromium.sh

test: lint tools consumers browser
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

e2e: $(STAMP) $(CONSUMERS_STAMP)
	$(BIN)/pytest tests/e2e

# rekey against a naive per-user scan at 10, 100, 1,000 accounts x 50 users and 1 x 5,000 users,
# on the in-process emulator; writes bench/results.md. Not part of `make test` (minutes, and its
# timings are the machine's). BENCH_ARGS=--quick for a smaller run, --full for no sampling.
bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .tools .pytest_cache .ruff_cache .hypothesis .aws-sam
