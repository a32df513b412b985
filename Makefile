# Run `make` or `make help` for the list of targets.

.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV := .venv
BIN := $(VENV)/bin
DATA_DIR := .rag
DEMO_QUESTION := How long is the warranty on the Helios battery?
# The corpus folders only: examples/README.md repeats the sample questions and would compete in retrieval.
EXAMPLES := examples/docs examples/images examples/reports examples/videos

# Quiet, predictable CPU use for the demo and the tests (2-core machines, forked workers).
demo test test-fast: export TOKENIZERS_PARALLELISM := false
demo test test-fast: export OPENBLAS_NUM_THREADS := 1
# The inner loop keeps its scratch files (a store per test, which syncs its files when it is created and closed)
# in /dev/shm when that is a tmpfs with 2 GB free: on this disk the syncs took a third of the run. Each test's
# folder is removed when it passes (tmp_path_retention_policy), so a run holds about 200 MB at most.
# A TMPDIR set in the environment wins; `make test` (CI) keeps the default.
TEST_TMPDIR := $(shell [ "$$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] \
	&& [ "$$(df -k --output=avail /dev/shm | tail -n 1)" -gt 2000000 ] && echo /dev/shm)
test-fast: export TMPDIR := $(or $(TMPDIR),$(TEST_TMPDIR),/tmp)
# Each worker compiles the project and the rewritten test modules again when bytecode is not written (some
# shells set PYTHONDONTWRITEBYTECODE): ~1 s of CPU a process, so the inner loop writes it (__pycache__ is ignored).
test-fast: export PYTHONDONTWRITEBYTECODE :=

.PHONY: help setup demo serve test test-fast lint examples e2e clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z0-9-]*:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## Create .venv and install the project with dev tools (fast when up to date)
	@bash scripts/setup.sh

demo: setup ## Ingest the example corpus into .rag/, print ranked hits and an answer for a question
	$(BIN)/rag ingest $(EXAMPLES)
	$(BIN)/rag query "$(DEMO_QUESTION)" --limit 5
	$(BIN)/rag ask "$(DEMO_QUESTION)"

serve: setup ## Run the HTTP API on http://127.0.0.1:8000 (docs at /docs) over the data in .rag/
	$(BIN)/rag serve

test: setup ## Run the test suite
	$(BIN)/pytest -q

test-fast: setup ## The inner loop: the tests not marked slow, integration (subprocesses, servers) or gpu
	$(BIN)/pytest -q -m "not slow and not integration and not gpu" -n auto --dist loadfile

lint: setup ## ruff check, ruff format --check and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

e2e: setup ## Open WebUI + headless chromium end to end (installs Open WebUI in /tmp/owui-venv; screenshots)
	$(BIN)/python scripts/e2e_openwebui.py --out /tmp/e2e-openwebui

examples: setup ## Regenerate the example corpus in examples/
	$(BIN)/python examples/make_examples.py

clean: ## Remove the local data directory (.rag/)
	rm -rf $(DATA_DIR)
