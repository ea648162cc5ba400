# Litestore webhooks — every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# What a fresh clone's first install took, as the README says ("Two commands"; tests/test_make.py).
INSTALL_MINUTES := 2
CDK_OUT ?= cdk.out

# The CDK CLI, pinned in package.json / package-lock.json and installed into node_modules (npm ci, ~3 s).
NODE_STAMP := node_modules/.installed
CDK        := npx --no-install cdk
CDK_ARGS   ?=
# The console's browser tests drive Debian's Chromium (Playwright's own browser download does not work here).
CHROMIUM := /usr/bin/chromium

.PHONY: install demo test synth lint clean bench soak bootstrap deploy destroy aws-region chromium screenshots

# The first `make` anything installs into .venv; each phase says so (pip itself is kept to errors: this
# machine's pip configuration adds a warning per package). Later runs skip it until pyproject.toml changes.
$(STAMP): pyproject.toml
	@echo "installing litestore-webhooks and its dependencies into $(VENV) (first run only, about $(INSTALL_MINUTES) min on a fresh machine; later runs skip this)"
	@started=$$(date +%s); \
	if [ -x $(PY) ]; then echo "  [1/3] using $(VENV)"; else echo "  [1/3] creating $(VENV)" && $(PYTHON) -m venv $(VENV) || exit 1; fi; \
	echo "  [2/3] upgrading pip" && $(PY) -m pip install -qq --upgrade pip && \
	echo "  [3/3] installing the package with [infra,dev] extras (boto3, Powertools, aws-cdk-lib, moto, pytest and what they need)" && \
	$(PY) -m pip install -qq -e '.[infra,dev]' && \
	touch $(STAMP) && echo "installed in $$(( $$(date +%s) - started )) s"

$(NODE_STAMP): package.json package-lock.json
	@echo "installing the pinned CDK CLI into node_modules (npm ci, a few seconds)"
	@npm ci --no-audit --no-fund --silent && touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

demo: $(STAMP)
	$(PY) -m litestore_webhooks.demo

test: $(STAMP) $(NODE_STAMP) chromium
	$(PY) -m pytest

# ruff (lint + format check) and mypy over the package, the stack, the benchmarks and the tests (types: package
# and stack). Configuration in pyproject.toml; `ruff check --fix` and `ruff format` repair most findings.
LINTED := functions infra app.py bench tests
lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)
	$(VENV)/bin/mypy

chromium:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the console's browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Re-take docs/console/*.png from the browser tests (commit them with the change they show).
screenshots: $(STAMP) chromium
	LSW_UPDATE_SCREENSHOTS=1 $(PY) -m pytest tests/test_console_browser.py -q

# Synthesize the stack offline into $(CDK_OUT) (no AWS credentials, no Docker; bundles with pip, kept to
# errors); ends with the template's path, its resource count and what cdk-nag found.
synth: $(STAMP)
	@PIP_QUIET=1 CDK_OUTDIR=$(CDK_OUT) $(PY) app.py

# Deploy with the pinned CDK CLI (docs/deploy.md). Credentials and region from the standard AWS chain
# (AWS_PROFILE, AWS_REGION, SSO, ...); extra CDK options in CDK_ARGS, e.g. CDK_ARGS="-c prefix=lsw-dev".
aws-region: $(STAMP)
	@$(PY) -c "import boto3, os, sys; r = os.environ.get('AWS_REGION') or boto3.session.Session().region_name; print(f'AWS region: {r}') if r else sys.exit('no AWS region: set AWS_REGION (or use a profile that has one: AWS_PROFILE=...), then run this again')"

bootstrap: $(STAMP) $(NODE_STAMP) aws-region
	$(CDK) bootstrap $(CDK_ARGS)

deploy: $(STAMP) $(NODE_STAMP) aws-region
	$(CDK) deploy $(CDK_ARGS)
	@echo "smoke test: .venv/bin/litestore-webhooks --stack <stack name above> doctor"

destroy: $(STAMP) $(NODE_STAMP) aws-region
	$(CDK) destroy $(CDK_ARGS)

# Benchmarks (not part of `make test`): prints one table, writes bench/results.json (< 10 min on 2 cores).
bench: $(STAMP)
	$(PY) bench/run.py

# Soak (not part of `make test`): conservation at 2,000 events x 3 endpoints with receiver and AWS
# faults, and a 10,000-event load run; loopback only, bounded under 10 minutes. Writes tests/soak/results.json.
soak: $(STAMP)
	timeout 600 $(PY) -m pytest tests/soak -m soak -q

clean:
	rm -rf $(VENV) cdk.out .pytest_cache node_modules
