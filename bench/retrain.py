"""Retraining from logs at scale: wall time per step and peak memory, by export size.

    .venv/bin/python -m bench.retrain [--sizes 10000 100000 1000000] [--feedback 1.0]
        [--max-log-rows N]  # 0: fit every training row (no sample)

For each size, one subprocess writes a synthetic export (random unit 384-dimensional embeddings
rounded to float16, random text features, outcomes drawn from a hidden direction, 30%
exploration over four tiers) and a small base model; a second, fresh subprocess runs
``training.retrain.retrain`` on it, so its peak resident memory (``ru_maxrss``) is the
retraining's alone. Prints a table and asserts nothing; the export is deleted afterwards.

``--feedback`` is the share of rows with an outcome (only those are kept and fitted; the rest are
read and counted). The default, 1.0, is the worst case.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

DIMENSION = 384
TIER_COSTS = (0.001, 0.004, 0.02, 0.06)
TIER_NAMES = ("fast", "standard", "reasoning", "deep")
BAND_STARTS = (0.0, 0.25, 0.55, 0.85)
EXPLORATION = 0.3
CHUNK = 50_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--feedback", type=float, default=1.0)
    parser.add_argument("--max-log-rows", type=int, default=None)
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--retrain", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate is not None:
        generate(args.generate, args.rows, args.feedback)
        return
    if args.retrain is not None:
        print(json.dumps(run_retrain(args.retrain, args.max_log_rows)))
        return
    compare(args.sizes, args.feedback, args.max_log_rows, args.work_dir)


def compare(sizes: list[int], feedback: float, max_log_rows: int | None, work: Path | None) -> None:
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}, feedback: {feedback}")
    results = []
    for size in sizes:
        folder = Path(tempfile.mkdtemp(prefix=f"bench-retrain-{size}-", dir=work))
        try:
            started = time.perf_counter()
            _child(["--generate", str(folder), "--rows", str(size), "--feedback", str(feedback)])
            generated = time.perf_counter() - started
            extra = [] if max_log_rows is None else ["--max-log-rows", str(max_log_rows)]
            figures = json.loads(_child(["--retrain", str(folder), *extra]))
            figures.update(rows=size, generate_s=generated)
            results.append(figures)
            _print_row(figures, header=len(results) == 1)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def _child(args: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "bench.retrain", *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return done.stdout


COLUMNS = (
    ("rows", "{:>9,}"),
    ("file_mb", "{:>8,.0f}"),
    ("labelled", "{:>9,}"),
    ("fitted", "{:>8,}"),
    ("read_s", "{:>7.1f}"),
    ("fit_s", "{:>7.1f}"),
    ("evaluate_s", "{:>10.1f}"),
    ("publish_s", "{:>9.1f}"),
    ("total_s", "{:>8.1f}"),
    ("peak_rss_mb", "{:>11,.0f}"),
    ("holdout_auroc", "{:>13.3f}"),
)


def _print_row(figures: dict[str, Any], *, header: bool) -> None:
    if header:
        print("  ".join(f"{name:>{len(fmt.format(0))}}" for name, fmt in COLUMNS))
    print("  ".join(fmt.format(figures.get(name) or 0) for name, fmt in COLUMNS), flush=True)


# --- child: write an export and a base ---------------------------------------------------------


def generate(folder: Path, rows: int, feedback: float) -> None:
    from classifiers.artifacts.store import save_artifact
    from classifiers.artifacts.versions import write_current
    from classifiers.difficulty import DifficultyEstimator
    from classifiers.features import FEATURE_NAMES

    rng = np.random.default_rng(0)
    direction = _unit(rng.normal(size=(1, DIMENSION)))[0]
    X = np.hstack([_unit(rng.normal(size=(2000, DIMENSION))), rng.normal(size=(2000, 10))])
    y = np.column_stack(
        [rng.integers(0, 2, 2000), rng.uniform(0, 0.3, 2000), np.full((2000, 2), np.nan)]
    )
    base = DifficultyEstimator().fit(X, y)
    models = folder / "models"
    save_artifact(
        models,
        "base",
        base,
        encoder_name="bench-random-384",
        encoder_dimension=DIMENSION,
        feature_names=FEATURE_NAMES,
        training_data={"rows": 2000},
        metrics={"estimator": {"class": "DifficultyEstimator", **base.get_params()}},
    )
    write_current(models, "base")
    with (folder / "export.jsonl").open("w", encoding="utf-8") as out:
        for start in range(0, rows, CHUNK):
            count = min(CHUNK, rows - start)
            out.writelines(_chunk(rng, base, direction, start, count, feedback))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _chunk(
    rng: np.random.Generator,
    base: Any,
    direction: np.ndarray,
    start: int,
    count: int,
    feedback: float,
) -> list[str]:
    import base64
    import hashlib

    embeddings = _unit(rng.normal(size=(count, DIMENSION))).astype("<f2")
    features = rng.normal(size=(count, 10))
    scores = base.predict(np.hstack([embeddings.astype(np.float64), features]))
    policy = np.searchsorted(BAND_STARTS, scores, side="right") - 1
    explored = rng.random(count) < EXPLORATION
    tiers = np.where(explored, rng.integers(0, 4, count), policy)
    probability = (1 - EXPLORATION) * (tiers == policy) + EXPLORATION / 4
    risk = 1 / (1 + np.exp(-3 * (embeddings @ direction) * np.sqrt(DIMENSION)))
    success = np.where(tiers == 0, rng.random(count) >= risk, rng.random(count) >= 0.05 * risk)
    has_feedback = rng.random(count) < feedback
    lines = []
    for i in range(count):
        n = start + i
        tier = int(tiers[i])
        when = f"2026-11-{1 + n * 28 // max(start + count, 1):02d}T00:00:{n % 60:02d}Z"
        row = {
            "request_id": f"req-{n}",
            "time": when,
            "prompt_hash": hashlib.sha256(str(n).encode()).hexdigest(),
            "prompt": None,
            "embedding": base64.b64encode(embeddings[i].tobytes()).decode("ascii"),
            "features": features[i].round(4).tolist(),
            "score": float(scores[i]),
            "tier": TIER_NAMES[tier],
            "tier_index": tier,
            "model": f"provider/{TIER_NAMES[tier]}",
            "upstream_model": None,
            "choice_probability": float(probability[i]),
            "classifier_version": "base",
            "policy_version": "bench",
            "prompt_tokens": 100,
            "completion_tokens": 50,
            "reasoning_tokens": 0,
            "cost_usd": TIER_COSTS[tier],
            "latency_ms": 100.0,
            "status": "ok",
            "feedback": [
                {
                    "outcome": "success" if success[i] else "failure",
                    "rating": None,
                    "verifier": None,
                    "source": "bench",
                    "time": when,
                }
            ]
            if has_feedback[i]
            else [],
        }
        lines.append(json.dumps(row) + "\n")
    return lines


# --- child: retrain, timing each step ------------------------------------------------------------


def run_retrain(folder: Path, max_log_rows: int | None) -> dict[str, Any]:
    from training.retrain import retrain
    from training.retrain_logs import MAX_LOG_ROWS

    marks: dict[str, float] = {}
    started = time.perf_counter()

    def progress(step: str, done: int, total: int | None) -> None:
        now = time.perf_counter()
        marks.setdefault(f"{step}:start", now)
        marks[f"{step}:end"] = now

    limit = MAX_LOG_ROWS if max_log_rows is None else (max_log_rows or None)
    result = retrain(
        folder / "export.jsonl", folder / "models", max_log_rows=limit, progress=progress
    )
    total = time.perf_counter() - started
    fitted = result.manifest.training_data["logs"]["fitted_rows"]

    def span(first: str, last: str) -> float:
        return marks.get(f"{last}:end", 0.0) - marks.get(f"{first}:start", started)

    return {
        "file_mb": (folder / "export.jsonl").stat().st_size / 1e6,
        "labelled": result.logs.labelled,
        "fitted": fitted,
        "read_s": marks["scoring logs with the base:start"] - started,
        "fit_s": span("fitting the candidate", "fitting the candidate"),
        "evaluate_s": span("evaluating", "evaluating"),
        "publish_s": span("publishing", "publishing"),
        "total_s": total,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "holdout_auroc": result.candidate_holdout.auroc,
    }


if __name__ == "__main__":
    main()
