"""Other versions measured on the same held-out rows, for the model card's comparison table.

Each version is scored with its own encoder's embeddings, read from the embedding cache that
training leaves (``var/embeddings/``, keyed by encoder name and the data's sha256); a version whose
encoder has no cache there is listed as not measured rather than re-embedded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from classifiers.artifacts.manifest import read_manifest
from classifiers.artifacts.store import load_as_built
from classifiers.artifacts.versions import resolve_version
from classifiers.features import build_features
from classifiers.predictor import TextPredictor
from training.datasets import SeedRow
from training.evaluate import EvaluationReport, evaluate
from training.model_card import PROXY_FOR, TARGETS

CachePath = Mapping[str, Path]  # encoder name -> the cached embeddings of the whole data file


def compare_versions(
    models_dir: Path,
    versions: Sequence[str],
    rows: Sequence[SeedRow],
    keep: np.ndarray,
    cache_for: CachePath,
    *,
    cheap_threshold: float | None = None,
) -> dict[str, EvaluationReport | str]:
    """Each version's report on ``rows[keep]``, or why it could not be measured."""
    found: dict[str, EvaluationReport | str] = {}
    kept = [row for row, k in zip(rows, keep, strict=True) if k]
    texts = [row.prompt for row in kept]
    for version in versions:
        version_dir = resolve_version(models_dir, version)
        spec = read_manifest(version_dir).encoder
        cache = cache_for.get(spec.name)
        if cache is None or not cache.exists():
            found[version] = f"not measured: no cached embeddings for {spec.name}"
            continue
        embeddings = np.load(cache, mmap_mode="r")[keep]
        loaded = load_as_built(version_dir)
        X = build_features(texts, np.asarray(embeddings))
        estimator = loaded.estimator
        if isinstance(estimator, TextPredictor):
            scores = estimator.predict_text(texts, X)
        else:
            scores = estimator.predict(X)
        found[version] = evaluate(kept, np.clip(scores, 0, 1), cheap_threshold=cheap_threshold)
    return found


def comparison_notes(
    this: EvaluationReport, others: Mapping[str, EvaluationReport | str], split: str
) -> str:
    """A markdown table: each acceptance proxy for this version and the others."""
    if not others:
        return ""
    names = list(others)
    header = "| proxy | target | this version | " + " | ".join(f"`{n}`" for n in names) + " |"
    lines = [header, "|---" * (3 + len(names)) + "|"]
    for metric, label in PROXY_FOR.items():
        cells = [_value(this, metric)] + [_value(others[n], metric) for n in names]
        lines.append(f"| {label} | {TARGETS.get(metric, '')} | " + " | ".join(cells) + " |")
    unmeasured = [f"`{n}`: {v}" for n, v in others.items() if isinstance(v, str)]
    tail = ("\n\n" + "; ".join(unmeasured)) if unmeasured else ""
    return (
        f"## Compared with other versions\n\nEvery version scored on the same {split} rows, each"
        " with its own encoder (and its own policy-independent scores; the shares to the"
        " cheapest tier all use this version's policy band).\n\n" + "\n".join(lines) + tail
    )


def _value(report: EvaluationReport | str, name: str) -> str:
    if isinstance(report, str):
        return "n/a"
    try:
        value = report.metric(name).model
    except KeyError:
        return "n/a"
    return "n/a" if value is None else f"{value:.3f}"
