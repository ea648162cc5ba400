# Litestore webhooks — every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test synth lint clean bench soak chromium screenshots
# The console's browser tests drive Debian's Chromium (Playwright's own browser download does not work here).
CHROMIUM := /usr/bin/chromium

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[infra,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m litestore_webhooks.demo

test: $(STAMP) chromium
	$(PY) -m pytest

chromium:
	@test -x $(CHROMIUM) || { echo "installing Debian's chromium for the console's browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Re-take docs/console/*.png from the browser tests (commit them with the change they show).
screenshots: $(STAMP) chromium
	LSW_UPDATE_SCREENSHOTS=1 $(PY) -m pytest tests/test_console_browser.py -q

# Synthesize the stack offline into cdk.out (no AWS credentials, no Docker; bundles with pip).
synth: $(STAMP)
	CDK_OUTDIR=cdk.out $(PY) app.py

# Benchmarks (not part of `make test`): prints one table, writes bench/results.json (< 10 min on 2 cores).
bench: $(STAMP)
	$(PY) bench/run.py

# Soak (not part of `make test`): conservation at 2,000 events x 3 endpoints with receiver and AWS
# faults, and a 10,000-event load run; loopback only, bounded under 10 minutes. Writes tests/soak/results.json.
soak: $(STAMP)
	timeout 600 $(PY) -m pytest tests/soak -m soak -q

clean:
	rm -rf $(VENV) cdk.out .pytest_cache
