"""Shared fixtures. The environment is fixed before anything imports litellm or the encoder."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")

# The local OpenAI-compatible upstream server (``upstream`` fixture) and a redis-server of the
# test's own (``redis_server``) for every test that wants them.
pytest_plugins = ["tests.upstream_fixtures", "tests.redis_fixtures"]
