# `make corpus`: install everything into .venv/ and run build_corpus on the default inputs.
# `make test`:   install everything and run the whole test suite, slow tests included (what .ci/run calls).
# `make test-fast`: the same without the tests marked slow (a quicker loop while developing).
SHELL := /bin/bash
CORPUS_DATA_ROOT ?= $(CURDIR)/data
ifeq ($(findstring ://,$(CORPUS_DATA_ROOT)),)
export CORPUS_DATA_ROOT := $(abspath $(CORPUS_DATA_ROOT))
LOCAL_DIR := $(CORPUS_DATA_ROOT)
else  # a URI (s3://...): the part trees go there, the rest to CORPUS_LOCAL_DIR (docs/ARCHITECTURE.md)
export CORPUS_DATA_ROOT
export CORPUS_LOCAL_DIR := $(abspath $(or $(CORPUS_LOCAL_DIR),$(CURDIR)/data))
LOCAL_DIR := $(CORPUS_LOCAL_DIR)
endif
export DAGSTER_HOME := $(LOCAL_DIR)/dagster_home
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: setup corpus pretrain ui check-defs test test-fast bench

setup:
	bash scripts/setup.sh

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME) && cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

# `dg` reads the code location from [tool.dg] in pyproject.toml; the `dagster` CLI equivalents
# (`dagster job execute -m pipelines -j build_corpus`, `dagster dev -m pipelines`) work as well
corpus: setup $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dg launch --job build_corpus

pretrain: setup $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dg launch --job pretrain

ui: setup $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dg dev --host 127.0.0.1 --port 3000

check-defs: setup
	$(BIN)/dg check defs

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m benchmarks.run_all
