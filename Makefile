# rekey: `make demo` runs the product on an embedded emulator; `make test` runs what CI runs.
# Both create .venv with pinned dependencies when it is missing or out of date.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint unit integration e2e bench soak clean tools consumers judges checkov browser prowler prowler-venv

$(STAMP): requirements-dev.txt pyproject.toml functions/consumer/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	$(BIN)/python -m pip uninstall -qq -y rekey  # the distribution's name before rekey-aws
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e functions/consumer -e .
	touch $(STAMP)

venv: $(STAMP)

# Tools in venvs of their own, each from tools/requirements-<name>.txt: aws-sam-cli (it pins
# boto3/pydantic versions the app's .venv does not use) and the consumers' own clients (the AWS
# CLI v1, which pins its own botocore, boto3, aws-secretsmanager-caching) for the e2e tests that
# run them as a consumer would.
TOOLS := .tools/sam
TOOLS_STAMP := $(TOOLS)/.installed
CONSUMERS := .tools/consumers
CONSUMERS_STAMP := $(CONSUMERS)/.installed
# Judges of the privilege guard that nobody here wrote (cloudsplaining, policy_sentry): the tests
# run them as subprocesses over every AWS managed policy moto ships (issue 27).
JUDGES_STAMP := .tools/judges/.installed
# checkov, the template scanner: every finding on hub/template.yaml and spoke_templates/ is fixed
# or skipped inline with its reason (tests/integration/test_scanners.py, docs/compliance.md).
CHECKOV_STAMP := .tools/checkov/.installed
# Prowler, a judge of the users' secrets (issue 28): ~2.3 GB, about 3 minutes to install from
# nothing (once per machine); tests/integration/test_prowler.py runs its checks in about 30 s.
PROWLER_STAMP := .tools/prowler/.installed

.tools/%/.installed: tools/requirements-%.txt
	test -x .tools/$*/bin/python || $(PYTHON) -m venv .tools/$*
	.tools/$*/bin/python -m pip install -q --upgrade pip
	.tools/$*/bin/python -m pip install -q -r $<
	touch $@

tools: $(TOOLS_STAMP)

consumers: $(CONSUMERS_STAMP)

judges: $(JUDGES_STAMP)

checkov: $(CHECKOV_STAMP)

prowler-venv: $(PROWLER_STAMP)

# Prowler's Secrets Manager checks on rekey's secrets after a rotation cycle on the emulator: prints
# each check's verdict on each secret (docs/compliance.md). Also part of `make test`.
prowler: $(STAMP) $(PROWLER_STAMP)
	$(BIN)/pytest tests/integration/test_prowler.py

demo: $(STAMP)
	$(BIN)/rekey demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Headless Chromium for the HTML report's test: installed when missing and root (CI).
browser:
	@bash tools/ensure-chromium.sh

# The moto-backed tiers run on pytest-xdist: one worker per core (PYTEST_WORKERS to change it),
# each with its own emulator; worksteal hands a finished worker the rest of another's queue, so
# the long tests (the fault matrix, sam build) do not leave a core idle at the end. The unit tier
# runs in one process: its tests take milliseconds, less than a worker takes to start.
PYTEST_WORKERS ?= auto
PARALLEL := -n $(PYTEST_WORKERS) --dist worksteal

test: lint tools consumers judges checkov prowler-venv browser
	$(BIN)/pytest $(PARALLEL)

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP) $(TOOLS_STAMP) $(JUDGES_STAMP) $(CHECKOV_STAMP) $(PROWLER_STAMP)
	$(BIN)/pytest $(PARALLEL) tests/integration

e2e: $(STAMP) $(CONSUMERS_STAMP)
	$(BIN)/pytest $(PARALLEL) tests/e2e

# rekey against a naive per-user scan at 10, 100, 1,000 accounts x 50 users and 1 x 5,000 users,
# on the in-process emulator; writes bench/results.md. Not part of `make test` (minutes, and its
# timings are the machine's). BENCH_ARGS=--quick for a smaller run, --full for no sampling.
bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# A year of daily runs with random failures and crashes (tests/reliability/soak.py): not in `test`.
soak: $(STAMP)
	$(BIN)/python -m tests.reliability.soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .tools .pytest_cache .ruff_cache .hypothesis .aws-sam
