# Litestore webhooks — every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# The CDK CLI, pinned in package.json / package-lock.json and installed into node_modules (npm ci, ~3 s).
NODE_STAMP := node_modules/.installed
CDK        := npx --no-install cdk
CDK_ARGS   ?=

.PHONY: install demo test synth lint clean bench soak bootstrap deploy destroy aws-region

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[infra,dev]'
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	@echo "installing the pinned CDK CLI into node_modules (npm ci, a few seconds)"
	@npm ci --no-audit --no-fund --silent && touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

demo: $(STAMP)
	$(PY) -m litestore_webhooks.demo

test: $(STAMP) $(NODE_STAMP)
	$(PY) -m pytest

# Synthesize the stack offline into cdk.out (no AWS credentials, no Docker; bundles with pip).
synth: $(STAMP)
	CDK_OUTDIR=cdk.out $(PY) app.py

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
