"""The model registry: which versions exist, which one serves, and how CURRENT got there.

    models/
      CURRENT        the serving version's name (``versions.write_current``: atomic)
      HISTORY        one JSON object a line per switch of CURRENT, oldest first; append-only
      .registry.lock held (``flock``) while CURRENT and HISTORY change together
      <version>/     an artifact (``store.save_artifact``), with ``report/`` beside it

Every switch goes through ``switch_current``: it verifies the target loads (manifest, sha256,
encoder, scikit-learn version), optionally checks that CURRENT is still what the caller compared
against (so two retrains cannot both promote over the same base), points CURRENT at it and
appends the switch to HISTORY, all under one lock. HISTORY is rewritten whole into a temporary
file and renamed into place, so a reader sees the old log or the new one, never half a line.

``rollback`` replays HISTORY as a stack: a promotion pushes the version it replaced, a rollback
pops one, so repeated rollbacks walk back through earlier versions. A CURRENT written by hand (or
by a tool that bypasses ``switch_current``) no longer matches HISTORY's last entry; rollback then
refuses rather than guess.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from classifiers.artifacts.manifest import EncoderSpec, Manifest, read_manifest
from classifiers.artifacts.store import load_artifact
from classifiers.artifacts.versions import (
    list_versions,
    read_current,
    resolve_version,
    write_current,
)
from classifiers.errors import ArtifactError, ArtifactNotFoundError
from classifiers.files import write_bytes_atomic

HISTORY_FILE = "HISTORY"
LOCK_FILE = ".registry.lock"
REPORT_DIR = "report"
GATE_FILE = "gate.json"
# The figures ``models list`` shows, where a version's manifest has them.
SUMMARY_METRICS = ("apgr[all]", "auroc_weak_model_fails", "spearman_math_level")

Action = Literal["promote", "rollback", "retrain", "train"]


@dataclass(frozen=True)
class Switch:
    """One change of CURRENT, as HISTORY records it."""

    time: str
    action: str
    previous: str | None
    current: str
    reason: str = ""

    @property
    def changed(self) -> bool:
        return self.previous != self.current

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class VersionSummary:
    version: str
    created: str
    current: bool
    base_version: str | None
    metrics: dict[str, float | None]
    gate: str | None  # "passed", "refused", or None for a version no gate judged
    problem: str | None = None  # why the manifest could not be read, for a broken version

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class VersionDetails:
    manifest: Manifest
    current: bool
    gate: dict[str, Any] | None
    history: tuple[Switch, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest": self.manifest.to_dict(),
            "current": self.current,
            "gate": self.gate,
            "history": [switch.to_dict() for switch in self.history],
        }


class RegistryError(ArtifactError):
    """CURRENT cannot be switched as asked; the message says why and what to do."""


def list_models(models_dir: Path) -> list[VersionSummary]:
    """Every complete version, oldest first, with its headline figures and whether it serves."""
    current = _current_or_none(models_dir)
    summaries = [_summary(models_dir / name, current) for name in list_versions(models_dir)]
    return sorted(summaries, key=lambda summary: (summary.created, summary.version))


def describe(models_dir: Path, version: str) -> VersionDetails:
    """A version's manifest, its gate report (if a gate judged it) and the switches naming it."""
    version_dir = resolve_version(models_dir, version)
    manifest = read_manifest(version_dir)
    involved = tuple(
        switch
        for switch in read_history(models_dir)
        if manifest.version in (switch.previous, switch.current)
    )
    current = _current_or_none(models_dir) == manifest.version
    return VersionDetails(manifest, current, read_gate(version_dir), involved)


def read_gate(version_dir: Path) -> dict[str, Any] | None:
    path = version_dir / REPORT_DIR / GATE_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ArtifactError(path, f"unreadable gate report: {exc}") from exc
    return data if isinstance(data, dict) else None


def read_history(models_dir: Path) -> list[Switch]:
    path = models_dir / HISTORY_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    return [_switch(path, number, line) for number, line in enumerate(lines, 1) if line.strip()]


def switch_current(
    models_dir: Path,
    version: str,
    *,
    action: Action = "promote",
    reason: str = "",
    expected_current: str | None = None,
    encoder: EncoderSpec | None = None,
) -> Switch:
    """Verify ``version`` loads, point CURRENT at it and record the switch in HISTORY.

    ``expected_current``: switch only if CURRENT still names that version (a ``RegistryError``
    otherwise). ``encoder``: the encoder the service runs; by default the one CURRENT's manifest
    names, so a version that the running service could not load is never made CURRENT.
    Switching to the version that is already CURRENT changes and records nothing.
    """
    with _locked(models_dir):
        previous = _current_or_none(models_dir)
        if expected_current is not None and previous != expected_current:
            raise RegistryError(
                models_dir / "CURRENT",
                f"CURRENT is {previous!r}, not {expected_current!r} as expected: it changed"
                f" meanwhile, so {version!r} is not made CURRENT; compare it with {previous!r}"
                " and promote it explicitly if it is still wanted",
            )
        _verify(models_dir, version, encoder or _serving_encoder(models_dir, previous, version))
        switch = Switch(_now(), action, previous, version, reason)
        if not switch.changed:
            return switch
        write_current(models_dir, version)
        _append_history(models_dir, switch)
    return switch


def rollback(models_dir: Path, *, encoder: EncoderSpec | None = None) -> Switch:
    """Point CURRENT back at the version it replaced; ``RegistryError`` if HISTORY cannot say."""
    with _locked(models_dir):
        current = read_current(models_dir)
        history = read_history(models_dir)
        target = _rollback_target(models_dir, current, history)
        _verify(models_dir, target, encoder or _serving_encoder(models_dir, current, target))
        switch = Switch(_now(), "rollback", current, target, f"rollback from {current}")
        write_current(models_dir, target)
        _append_history(models_dir, switch)
    return switch


def _rollback_target(models_dir: Path, current: str, history: list[Switch]) -> str:
    path = models_dir / HISTORY_FILE
    if not history:
        raise RegistryError(
            path, "no switches of CURRENT are recorded, so there is nothing to roll back to"
        )
    if history[-1].current != current:
        raise RegistryError(
            path,
            f"the last recorded switch was to {history[-1].current!r} but CURRENT is"
            f" {current!r} (changed outside the registry); promote the wanted version explicitly",
        )
    stack: list[str] = []
    for switch in history:
        if switch.action == "rollback":
            if stack:
                stack.pop()
        elif switch.previous is not None and switch.changed:
            stack.append(switch.previous)
    if not stack:
        raise RegistryError(path, f"{current!r} is the earliest recorded CURRENT: nothing before")
    return stack[-1]


def _verify(models_dir: Path, version: str, encoder: EncoderSpec) -> None:
    load_artifact(
        resolve_version(models_dir, version),
        encoder_name=encoder.name,
        encoder_dimension=encoder.dimension,
        encoder_files_sha256=encoder.files_sha256,
    )


def _serving_encoder(models_dir: Path, current: str | None, target: str) -> EncoderSpec:
    """The encoder of the serving version if there is one, else the target's own."""
    if current is not None and (models_dir / current).is_dir():
        return read_manifest(models_dir / current).encoder
    return read_manifest(resolve_version(models_dir, target)).encoder


def _current_or_none(models_dir: Path) -> str | None:
    try:
        return read_current(models_dir)
    except ArtifactNotFoundError:
        return None


def _summary(version_dir: Path, current: str | None) -> VersionSummary:
    try:
        manifest = read_manifest(version_dir)
        gate = read_gate(version_dir)
    except ArtifactError as exc:
        name = version_dir.name
        return VersionSummary(name, "", name == current, None, {}, None, exc.problem)
    validation = manifest.metrics.get("validation") or {}
    by_name = {m.get("name"): m.get("model") for m in validation.get("metrics", [])}
    metrics: dict[str, float | None] = {name: by_name.get(name) for name in SUMMARY_METRICS}
    holdout = manifest.metrics.get("holdout") or {}
    if holdout:
        metrics["holdout_auroc"] = holdout.get("auroc")
    verdict = None if gate is None else ("passed" if gate.get("passed") else "refused")
    base = manifest.training_data.get("base_version")
    return VersionSummary(
        version=manifest.version,
        created=manifest.created,
        current=manifest.version == current,
        base_version=base if isinstance(base, str) else None,
        metrics=metrics,
        gate=verdict,
    )


def _switch(path: Path, number: int, line: str) -> Switch:
    try:
        data = json.loads(line)
        return Switch(
            time=str(data["time"]),
            action=str(data["action"]),
            previous=data["previous"],
            current=str(data["current"]),
            reason=str(data.get("reason", "")),
        )
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ArtifactError(path, f"line {number} is not a recorded switch: {exc}") from exc


def _append_history(models_dir: Path, switch: Switch) -> None:
    """Rewrite HISTORY with one more line, atomically (temporary file, fsync, rename)."""
    path = models_dir / HISTORY_FILE
    try:
        old = path.read_bytes()
    except FileNotFoundError:
        old = b""
    if old and not old.endswith(b"\n"):
        old += b"\n"
    line = json.dumps(switch.to_dict(), ensure_ascii=False) + "\n"
    write_bytes_atomic(path, old + line.encode("utf-8"))


@contextmanager
def _locked(models_dir: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``models_dir/.registry.lock``, across processes."""
    if not models_dir.is_dir():
        raise ArtifactNotFoundError(models_dir, "no models directory")
    with (models_dir / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
