"""Service settings: the only place that reads the environment (prefix ``ROUTER_``).

The decision log lives in SQLite under ``data_dir`` (``decisions.sqlite3``) unless ``redis_url``
is set, when it goes to Redis Streams under ``redis_prefix``. Either way records the store cannot
take wait in a local spool (``spool_path``, by default ``data_dir/decision-spool.sqlite3``).
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_MODELS_DIR = PROJECT_ROOT / "models"
SHIPPED_POLICY = Path(__file__).resolve().parent / "policies" / "default.yaml"
DECISION_DB = "decisions.sqlite3"
DECISION_SPOOL = "decision-spool.sqlite3"

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
_REDIS_PREFIX = re.compile(r"[A-Za-z0-9{][A-Za-z0-9_.:{}-]*")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTER_", extra="ignore")

    models_dir: Path = SHIPPED_MODELS_DIR
    model_version: str | None = Field(
        default=None, description="Pin a classifier version; by default models_dir/CURRENT."
    )
    policy_path: Path = SHIPPED_POLICY
    data_dir: Path = PROJECT_ROOT / "var"
    redis_url: str | None = Field(
        default=None, description="Log decisions to Redis Streams here instead of SQLite."
    )
    redis_prefix: str = Field(default="router", description="Prefix of the log's Redis keys.")
    redis_timeout_s: float = Field(
        default=1.0, gt=0.0, le=60.0, description="Redis connect and command timeout."
    )
    spool_path: Path | None = Field(
        default=None, description="Spool for records the store cannot take yet."
    )
    spool_retry_max_s: float = Field(
        default=5.0, gt=0.0, le=600.0, description="Longest wait between replays of the spool."
    )
    keys_path: Path | None = Field(
        default=None,
        description="The API keys file when Redis is not set; default data_dir/api-keys.json.",
    )
    open_access: bool = Field(
        default=False,
        description="Serve without API keys on a non-loopback address (keys, once created, win).",
    )
    shutdown_drain_s: float = Field(
        default=20.0,
        ge=0.0,
        le=600.0,
        description="On SIGTERM, how long open streams may finish before they end with an error.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # Longer than any client's idle-connection expiry (httpx's and so the openai SDK's: 5 s, as
    # uvicorn's own default): a server that closes first races the client's next request on that
    # connection, which then fails with a reset (seen in bench/service_overhead at c=64).
    keep_alive_s: int = Field(
        default=75, ge=1, le=3600, description="How long an idle client connection stays open."
    )
    encoder_batch_size: int = Field(
        default=32,
        ge=1,
        le=1024,
        description="Prompts per encoder pass; concurrent decisions share a pass up to this many.",
    )
    encoder_cache_size: int = Field(default=4096, ge=0)
    # classifiers.encoder_choice: auto serves with the encoder the serving version was fitted on.
    encoder: Literal["auto", "onnx", "torch"] = Field(
        default="auto", description="auto, onnx (int8 ONNX Runtime) or torch (needs [train])."
    )
    # One thread: on a small shared box, two threads per forward pass make batch-1
    # latency collapse whenever anything else runs (bench/decision_latency.py).
    encoder_threads: int = Field(default=1, ge=1, le=64)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    upstream_connect_timeout_s: float = Field(
        default=3.0,
        gt=0.0,
        le=60.0,
        description="How long a connection to an upstream may take before the call fails (a"
        " tier's timeout_s bounds the whole call).",
    )
    upstream_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Retries of a 429 or 503 before the fallbacks (a 500 or a failed connection"
        " goes to them at once).",
    )
    upstream_cooldown_s: float | None = Field(
        default=None, ge=0.0, le=3600.0, description="How long a failing deployment rests."
    )
    upstream_allowed_fails: int | None = Field(
        default=None, ge=0, le=1000, description="Failures a minute before a cooldown."
    )
    decision_queue_size: int = Field(
        default=10_000, ge=1, le=1_000_000, description="Records waiting for the sink."
    )
    store_prompt_text: bool = True
    # How often a running service checks models_dir/CURRENT for a new version; 0 turns it off.
    reload_interval_s: float = Field(default=2.0, ge=0.0, le=3600.0)
    exploration_rate: float = Field(default=0.0, ge=0.0, le=0.5)
    # The admin API (/admin/..., /ui) answers 401 unless a request carries this token.
    admin_token: SecretStr | None = Field(default=None, min_length=16)
    # Embedded mode: how often a replica looks at the policy file for a change (with Redis,
    # replicas hear of a change on the <prefix>:policy channel at once).
    policy_watch_interval_s: float = Field(default=0.25, gt=0.0, le=60.0)
    log_level: str = "INFO"

    @field_validator("models_dir", "policy_path")
    @classmethod
    def _must_exist(cls, path: Path) -> Path:
        if not path.exists():
            raise ValueError(f"{path} does not exist")
        return path

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, url: str | None) -> str | None:
        if not url:
            return None  # ROUTER_REDIS_URL= (empty) means SQLite, like leaving it unset
        if not url.startswith(_REDIS_SCHEMES):
            raise ValueError(
                "must be a redis://, rediss:// or unix:// URL, like redis://127.0.0.1:6379/0"
            )
        return url

    @field_validator("redis_prefix")
    @classmethod
    def _usable_prefix(cls, prefix: str) -> str:
        if not _REDIS_PREFIX.fullmatch(prefix) or prefix.endswith(":"):
            raise ValueError(
                f"{prefix!r} is not a usable key prefix: letters, digits and _ . : {{ }} -,"
                " not ending in ':' (keys are <prefix>:decisions...)"
            )
        return prefix

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, level: str) -> str:
        upper = level.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError(f"unknown log level {level!r}; use DEBUG, INFO, WARNING or ERROR")
        return upper

    def for_batch(self) -> Settings:
        """These settings for a batch job (``score``, ``eval``, ``embed``, ``train``): the encoder
        runs on every core (up to 64) unless ``ROUTER_ENCODER_THREADS`` says otherwise."""
        if "encoder_threads" in self.model_fields_set:
            return self
        cores = max(1, min(os.cpu_count() or 1, 64))
        return self.model_copy(update={"encoder_threads": cores})

    @property
    def decision_db_path(self) -> Path:
        """The SQLite decision log, used when ``redis_url`` is not set."""
        return self.data_dir / DECISION_DB

    @property
    def decision_spool_path(self) -> Path:
        """Where records wait while the store cannot take them."""
        return self.spool_path or self.data_dir / DECISION_SPOOL


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
