"""The decision's classifier step for several versions, side by side in one run.

    .venv/bin/python -m bench.classifier_versions [--version V ...] [--iterations 300]

Versions on the same encoder differ only after it: text features, the estimator (and a TF-IDF
model where one has it). So the encoder runs once per prompt, outside the timing, and each round
times every version's ``features + predict_text`` on the same prompt, the versions taking turns
going first. Prints p50 and p99 of the calling thread's CPU time beside the encoder's own for
scale, at one thread as the service runs; asserts nothing. Default versions: ``CURRENT`` and the
version it replaced (``models/HISTORY``).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.artifacts.registry import read_history
from classifiers.artifacts.store import load_artifact
from classifiers.artifacts.versions import read_current
from classifiers.encoder_choice import load_text_encoder
from classifiers.features import build_features
from router.settings import SHIPPED_MODELS_DIR

SHORT = "What is the capital of France, and why did it become the capital? (question {n})"
LONG = (
    "Write a Python function that parses a log file of {n} lines, groups the entries by hour and"
    " severity, and prints a table of counts; explain how you would test it, which edge cases"
    " matter (empty lines, unknown severities, timestamps across midnight), and how the code"
    " would change if the file did not fit in memory. "
) * 4


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    versions = args.version or _current_and_previous(args.models_dir)
    encoder = load_text_encoder("onnx", batch_size=1, cache_size=0, threads=1)
    estimators = {v: _load(args.models_dir, v, encoder) for v in versions}
    print(f"classifier step per decision, CPU ms at 1 thread, {args.iterations} prompts per length")
    print(f"{'prompt':<8} {'version':<28} {'p50':>7} {'p99':>7}")
    for label, template in (("short", SHORT), ("long", LONG)):
        times: dict[str, list[float]] = {v: [] for v in versions}
        encoder_ms: list[float] = []
        for n in range(args.iterations):
            text = template.format(n=n)
            start = time.thread_time()
            embedding = encoder.encode([text])
            encoder_ms.append((time.thread_time() - start) * 1000)
            order = versions[n % len(versions) :] + versions[: n % len(versions)]
            for version in order:
                start = time.thread_time()
                estimators[version].predict_text([text], build_features([text], embedding))
                times[version].append((time.thread_time() - start) * 1000)
        for version in versions:
            p50, p99 = np.percentile(times[version], [50, 99])
            print(f"{label:<8} {version:<28} {p50:7.3f} {p99:7.3f}")
        print(f"{label:<8} {'(the encoder, for scale)':<28} {np.percentile(encoder_ms, 50):7.3f}")
    print(f"load average (1 min): {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    return 0


def _current_and_previous(models_dir: Path) -> list[str]:
    current = read_current(models_dir)
    history = read_history(models_dir)
    previous = history[-1].previous if history else None
    return [v for v in (current, previous) if v]


def _load(models_dir: Path, version: str, encoder: Any) -> Any:
    artifact = load_artifact(
        models_dir / version, encoder_name=encoder.name, encoder_dimension=encoder.dimension
    )
    return artifact.estimator


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Classifier step of several versions.")
    parser.add_argument("--models-dir", type=Path, default=SHIPPED_MODELS_DIR)
    parser.add_argument("--version", action="append", help="repeatable; default CURRENT + previous")
    parser.add_argument("--iterations", type=int, default=300)
    return parser.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(main())
