# `make corpus`: install everything into .venv/ and run build_corpus on the default inputs.
# `make test`:   install everything and run the test suite (what .ci/run calls).
SHELL := /bin/bash
CORPUS_DATA_ROOT ?= $(CURDIR)/data
export CORPUS_DATA_ROOT := $(abspath $(CORPUS_DATA_ROOT))
export DAGSTER_HOME := $(CORPUS_DATA_ROOT)/dagster_home
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: setup corpus pretrain ui test test-all bench

setup:
	bash scripts/setup.sh

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME) && cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

corpus: setup $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster job execute -m pipelines -j build_corpus

pretrain: setup $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster job execute -m pipelines -j pretrain

ui: setup $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -m pipelines --host 127.0.0.1 --port 3000

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-all: setup
	$(BIN)/python -m pytest -q -m "" $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m benchmarks.run_all
