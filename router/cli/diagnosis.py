"""What a deployment will do and what stands in its way: ``router doctor`` and serve's start-up.

``diagnose(settings, probe=...)`` gathers, without starting the service:

- the classifier: the version that serves (``ROUTER_MODEL_VERSION`` or ``models/CURRENT``) and
  its model card's headline figures (the validation metrics ``router models list`` shows, the
  user-data metrics of a version trained on a user's file, a retrained version's held-out AUROC);
- the policy: its file and version;
- every tier's model and fallbacks, with the key each needs set or missing and, with ``probe``,
  a one-token call's answer and latency (``router.upstream.probe``);
- the decision log's store (SQLite file or Redis) and whether it answers.

A tier is *unusable* when its own model's key is missing or its probe failed (its fallbacks
only help once the model itself has been tried). ``Diagnosis.problems`` lists what makes the
deployment unusable: an unusable tier, a policy or classifier that will not load. A store that
does not answer is a warning: the service keeps records in its spool until it does.
``Diagnosis.warnings`` names the models without a price (neither the policy's ``price`` nor
litellm's map): their answers cost 0 in the log and the metrics, and spend caps never count them.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from classifiers.artifacts.manifest import read_manifest
from classifiers.artifacts.registry import SUMMARY_METRICS
from classifiers.artifacts.versions import resolve_version
from router.decision.policy_file import load_policy
from router.errors import RouterError
from router.settings import Settings
from router.upstream.client import close_clients
from router.upstream.probe import ModelCheck, check_targets, probe
from router.upstream.targets import UpstreamTarget

__all__ = ["ClassifierStatus", "Diagnosis", "PolicyStatus", "StoreStatus", "diagnose"]

# The model card's headline figures: ``router models list``'s, and those of a user's own data.
HEADLINE_METRICS = (*SUMMARY_METRICS, "spearman_outcome_gain[user]", "auroc_outcome_gain[user]")


@dataclass(frozen=True)
class ClassifierStatus:
    version: str | None
    chosen_by: str  # "ROUTER_MODEL_VERSION" or "models/CURRENT"
    figures: dict[str, float] = field(default_factory=dict)
    problem: str | None = None


@dataclass(frozen=True)
class PolicyStatus:
    path: str
    version: str | None
    problem: str | None = None


@dataclass(frozen=True)
class StoreStatus:
    kind: str  # "sqlite" or "redis"
    where: str
    reachable: bool
    detail: str


@dataclass(frozen=True)
class Diagnosis:
    classifier: ClassifierStatus
    policy: PolicyStatus
    checks: tuple[ModelCheck, ...]
    store: StoreStatus
    probed: bool

    @property
    def unusable_tiers(self) -> list[ModelCheck]:
        return [c for c in self.checks if c.role == "primary" and not c.usable]

    @property
    def problems(self) -> list[str]:
        found = [f"tier '{c.tier}': {_why_unusable(c)}" for c in self.unusable_tiers]
        if self.policy.problem:
            found.append(f"policy: {self.policy.problem}")
        if self.classifier.problem:
            found.append(f"classifier: {self.classifier.problem}")
        return found

    @property
    def warnings(self) -> list[str]:
        unpriced = {c.model: c.tier for c in self.checks if not c.priced}
        return [
            f"tier '{tier}': {model} has no price (no `price` in the policy, not in litellm's"
            " price map): its answers cost 0 in the log and the metrics, and spend caps never"
            " count them"
            for model, tier in unpriced.items()
        ]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "problems": self.problems, "warnings": self.warnings}


def diagnose(settings: Settings, *, probe_upstreams: bool = False) -> Diagnosis:
    """See the module docstring; only ``probe_upstreams`` sends anything to an upstream."""
    policy, targets = _policy(settings)
    checks = check_targets(targets)
    if probe_upstreams:
        checks = asyncio.run(_probed(checks, settings.upstream_connect_timeout_s))
    return Diagnosis(
        _classifier(settings), policy, tuple(checks), _store(settings), probe_upstreams
    )


async def _probed(checks: list[ModelCheck], connect_timeout_s: float) -> list[ModelCheck]:
    """The probes, on this command's own event loop, whose pooled clients are closed after."""
    try:
        return await probe(checks, connect_timeout_s=connect_timeout_s)
    finally:
        await close_clients()


def _why_unusable(check: ModelCheck) -> str:
    if check.missing is not None:
        return f"{check.model} needs {check.missing}, which is not set"
    assert check.probe is not None
    return f"{check.model} at {check.where}: {check.probe.detail}"


def _policy(settings: Settings) -> tuple[PolicyStatus, dict[str, UpstreamTarget]]:
    path = str(settings.policy_path)
    try:
        policy = load_policy(settings.policy_path)
    except RouterError as exc:
        return PolicyStatus(path, None, exc.message), {}
    targets = {tier.name: UpstreamTarget.of(tier) for tier in policy.tiers}
    return PolicyStatus(path, policy.version), targets


def _classifier(settings: Settings) -> ClassifierStatus:
    chosen_by = "ROUTER_MODEL_VERSION" if settings.model_version else "models/CURRENT"
    try:
        version_dir = resolve_version(settings.models_dir, settings.model_version)
        manifest = read_manifest(version_dir)
    except RouterError as exc:
        return ClassifierStatus(settings.model_version, chosen_by, problem=exc.message)
    validation = manifest.metrics.get("validation") or {}
    measured = {m.get("name"): m.get("model") for m in validation.get("metrics", [])}
    figures = {
        name: float(measured[name])
        for name in HEADLINE_METRICS
        if isinstance(measured.get(name), int | float)
    }
    holdout = (manifest.metrics.get("holdout") or {}).get("auroc")
    if isinstance(holdout, int | float):
        figures["holdout_auroc"] = float(holdout)
    return ClassifierStatus(manifest.version, chosen_by, figures)


def _store(settings: Settings) -> StoreStatus:
    if settings.redis_url is not None:
        return _redis_status(settings.redis_url, settings.redis_timeout_s)
    return _sqlite_status(settings.decision_db_path)


def _redis_status(url: str, timeout_s: float) -> StoreStatus:
    import redis

    where = _without_password(url)
    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        client.ping()
    except redis.RedisError as exc:
        return StoreStatus("redis", where, False, f"no answer: {exc}")
    finally:
        client.close()
    return StoreStatus("redis", where, True, "answers PING")


def _sqlite_status(path: Path) -> StoreStatus:
    if not path.exists():
        parent = next((p for p in (path, *path.parents) if p.exists()), None)
        if parent is None or not _writable(parent):
            return StoreStatus("sqlite", str(path), False, f"cannot be created under {parent}")
        return StoreStatus("sqlite", str(path), True, "created at first start")
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0) as connection:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        return StoreStatus("sqlite", str(path), False, f"unreadable: {exc}")
    return StoreStatus("sqlite", str(path), True, "readable")


def _writable(directory: Path) -> bool:
    return directory.is_dir() and os.access(directory, os.W_OK | os.X_OK)


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
