# One command to set up and serve, one to run the tests; both create .venv on first use.
PYTHON ?= python3.11
# Read in place, never copied; the closed-loop retraining tests need its embeddings cached.
SEED_DATA ?= ../shared/data/train.jsonl
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export LITELLM_LOCAL_MODEL_COST_MAP := True
export LITELLM_OFFLINE_MODE := true

.PHONY: setup serve test lint bench seed-embeddings

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

serve: $(STAMP)
	$(BIN)/router serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# A batch job: every core (the service's default of one torch thread is for request latency).
seed-embeddings: $(STAMP)
	@if [ -f $(SEED_DATA) ]; then \
		threads=$$(nproc); [ "$$threads" -le 64 ] || threads=64; \
		ROUTER_ENCODER_THREADS=$$threads $(BIN)/router embed --data $(SEED_DATA); \
	else echo "no $(SEED_DATA): the tests that need seed data will say they skipped"; fi

test: lint seed-embeddings
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/decision_latency.py
