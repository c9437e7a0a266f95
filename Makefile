# PSP Outreach. `make run` starts everything on the embedded default; `make test` installs and tests.
SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
export UV_LINK_MODE ?= copy

.PHONY: install chromium run test test-fast lint fmt bench asyncapi schemas clean
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo 2>/dev/null)

install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --all-packages --frozen

run: install
	$(UV) run python -m psp_common.devrun

# The supporter-page browser test drives Debian's Chromium (Playwright's own browser downloads are not used).
chromium:
	command -v chromium >/dev/null || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium)

test: install chromium
	$(UV) run pytest -q -ra $(PYTEST_ARGS)

test-fast: install chromium
	$(UV) run pytest -q -m "not e2e and not faults" $(PYTEST_ARGS)

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy libs services

fmt: install
	$(UV) run ruff format .
	$(UV) run ruff check --fix .

bench: install
	$(UV) run python -m bench $(BENCH_ARGS)

asyncapi: install
	$(UV) run python -m psp_common.docs

clean:
	rm -rf .run .pytest_cache .mypy_cache .ruff_cache
