"""Service settings: the only place that reads the environment (prefix ``ROUTER_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_MODELS_DIR = PROJECT_ROOT / "models"
SHIPPED_POLICY = Path(__file__).resolve().parent / "policies" / "default.yaml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTER_", extra="ignore")

    models_dir: Path = SHIPPED_MODELS_DIR
    model_version: str | None = Field(
        default=None, description="Pin a classifier version; by default models_dir/CURRENT."
    )
    policy_path: Path = SHIPPED_POLICY
    data_dir: Path = PROJECT_ROOT / "var"
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    encoder_batch_size: int = Field(default=32, ge=1, le=1024)
    encoder_cache_size: int = Field(default=4096, ge=0)
    # One thread: on a small shared box, two torch threads per forward pass make batch-1
    # latency collapse whenever anything else runs (bench/decision_latency.py).
    encoder_threads: int = Field(default=1, ge=1, le=64)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    upstream_retries: int = Field(
        default=2, ge=0, le=10, description="Retries of a 429 or 5xx before the fallbacks."
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
    log_level: str = "INFO"

    @field_validator("models_dir", "policy_path")
    @classmethod
    def _must_exist(cls, path: Path) -> Path:
        if not path.exists():
            raise ValueError(f"{path} does not exist")
        return path

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, level: str) -> str:
        upper = level.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError(f"unknown log level {level!r}; use DEBUG, INFO, WARNING or ERROR")
        return upper


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
