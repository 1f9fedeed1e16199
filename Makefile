# Two commands for a newcomer: `make run` and `make test`. Both install what they need.
PY ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
# The CLI and test servers start many short processes; compiled bytecode saves seconds each.
export UV_COMPILE_BYTECODE := 1

.PHONY: install install-dev node-deps sdk-deps browser-deps run test lint typecheck layers lock clean audit

$(UV):
	$(PY) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# --inexact: `make run` must not strip the dev tools that `make test` installed.
install: $(UV)
	$(UV) sync --frozen --no-dev --inexact

install-dev: $(UV)
	$(UV) sync --frozen

# The Node.js SDKs the end-to-end tests drive (node-auth0, @auth0/auth0-auth-js), exactly as
# package-lock.json pins them. npm ci runs again only when package.json or the lock file is
# newer than what it installed.
NODE_TESTS := tests/e2e/node
NODE_DEPS := $(NODE_TESTS)/node_modules/.package-lock.json

node-deps: $(NODE_DEPS)

$(NODE_DEPS): $(NODE_TESTS)/package.json $(NODE_TESTS)/package-lock.json
	cd $(NODE_TESTS) && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

# The SDKs the hosted-login browser tests drive (auth0-spa-js in a static page,
# express-openid-connect in a small app), pinned the same way.
SDK_TESTS := tests/browser/sdk
SDK_DEPS := $(SDK_TESTS)/node_modules/.package-lock.json

sdk-deps: $(SDK_DEPS)

$(SDK_DEPS): $(SDK_TESTS)/package.json $(SDK_TESTS)/package-lock.json
	cd $(SDK_TESTS) && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

# The browser tests (tests/browser) drive Debian's Chromium through Playwright, never a browser
# Playwright downloads, and make it trust their test CA with certutil (libnss3-tools). Installed
# from Debian's archive only when missing; the package lists are fetched first only if the
# install cannot find them. CI runs as root; elsewhere sudo asks.
BROWSER_PACKAGES := chromium libnss3-tools
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_INSTALL := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends

browser-deps:
	@if [ ! -x /usr/bin/chromium ] || ! command -v certutil >/dev/null 2>&1; then \
	  $(APT_INSTALL) $(BROWSER_PACKAGES) || \
	  { $(SUDO) apt-get update && $(APT_INSTALL) $(BROWSER_PACKAGES); }; \
	fi

# `make run PORT=9000` serves another port. Logs are human-readable lines here; JSON (the
# default of `twofold serve`) is what log collectors want in production.
PORT ?= 8080
run: install
	TWOFOLD_LOG_FORMAT=$${TWOFOLD_LOG_FORMAT:-console} $(VENV)/bin/twofold serve --demo --port $(PORT)

lint: install-dev
	$(VENV)/bin/ruff check
	$(VENV)/bin/ruff format --check

typecheck: install-dev
	$(VENV)/bin/mypy

layers: install-dev
	$(VENV)/bin/lint-imports

test: install-dev node-deps sdk-deps browser-deps lint typecheck layers
	$(VENV)/bin/pytest

# Known vulnerabilities in the locked dependencies. pip-audit asks PyPI's JSON API (or OSV) over
# the network; where that service cannot be reached it cannot audit anything, so this is not part
# of `make test`. --strict makes an unaudited dependency a failure rather than a silent pass.
audit: install-dev
	$(VENV)/bin/pip-audit --strict --skip-editable --progress-spinner off

lock: $(UV)
	$(UV) lock

clean:
	rm -rf $(VENV) $(TOOLS) var $(NODE_TESTS)/node_modules $(SDK_TESTS)/node_modules

# Load benchmarks, see bench/README.md. `make bench BENCH_ARGS=--quick` for a 2-minute smoke run.
.PHONY: bench
bench: $(UV)
	$(UV) sync --frozen --group bench --inexact
	$(VENV)/bin/python bench/run.py $(BENCH_ARGS)
