"""Decision latency: the fast path (int8 ONNX encoder) beside the torch path, in one run.

    .venv/bin/python -m bench.decision_latency [--models-dir DIR] [--version V]
        [--threads N] [--iterations 200] [--rounds 3] [--paths onnx,torch] [--onnx NAME=DIR]

Each path is the full decision (encoder, features, estimator, policy) over its own encoder; both
use the same fitted estimator (the artifact's, loaded for timing whichever encoder it was fitted
on: its cost does not depend on where the embedding came from). Prints figures and asserts
nothing. The encoder cache is off and every measured text is distinct, so no figure hides the
encoder. Within each iteration the paths take turns going first, so drift and neighbours' load
fall on all alike. Beside wall-clock p50 and p99 the table gives the p50 of the calling thread's
CPU time (both encoders run on the calling thread at one thread): on a shared machine a busy
neighbour stretches wall-clock figures, far less the CPU a decision takes. The torch path needs
the [train] extra; without it only the fast path is timed. ``--onnx NAME=DIR`` (repeatable) adds
another ONNX export (a directory with ``encoder.json``, as ``router encoder export --out`` writes)
as a path of its own, to time a candidate build beside the shipped one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
from sklearn.linear_model import Ridge

from classifiers.artifacts.store import load_as_built
from classifiers.artifacts.versions import resolve_version
from classifiers.encoder import TextEncoder
from classifiers.errors import ArtifactNotFoundError, RouterError
from classifiers.scorer import FeatureFn, Scorer, embeddings_only
from router.settings import SHIPPED_MODELS_DIR, SHIPPED_POLICY

SHORT = "Case {i}: explain briefly why the sky looks blue at noon but red at sunset."
LONG = (
    "Case {i}: a regional hospital schedules 14 nurses across three shifts for four weeks. Each"
    " nurse works at most five shifts a week, never a night shift followed by a morning shift,"
    " and at least two weekends off in the period. The day shift needs four nurses on weekdays"
    " and three at weekends, the evening shift three and two, and the night shift two every day."
    " Six nurses are certified for intensive care, and every shift needs at least one of them."
    " Three nurses work part time, at most three shifts a week, and two of them cannot work"
    " nights. Requests for days off arrive a month ahead and should be honoured where possible,"
    " but coverage comes first. Overtime costs 1.5 times the normal rate and should be minimised,"
    " and the total number of night shifts should be spread as evenly as possible. Formulate this"
    " as an integer linear program: define the decision variables, write every constraint"
    " explicitly, and give an objective that trades overtime cost against fairness with a weight"
    " you justify. Then explain how you would solve it in practice, which constraints you would"
    " relax first if the model is infeasible, how you would detect which requests cause the"
    " infeasibility, and how the schedule should be repaired when a nurse calls in sick on the"
    " morning of a shift without rebuilding the whole plan. Finally, estimate how the problem"
    " size grows with the number of nurses and weeks, and say whether a commercial solver is"
    " needed or an open-source one will do for a hospital of this size."
)
STAND_IN_VERSION = "bench-stand-in"
_T = TypeVar("_T")


@dataclass(frozen=True)
class DecisionPath:
    """What the service runs per prompt (``one``) and per batch (``many``), and what that is."""

    one: Callable[[str], object]
    many: Callable[[list[str]], object]
    label: str


@dataclass(frozen=True)
class Candidate:
    """One encoder and the decision path built on it."""

    name: str
    encoder: TextEncoder
    path: DecisionPath


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    load_before = os.getloadavg()[0]
    encoders = _encoders(args.paths.split(","), args.batch_size, args.threads)
    encoders[1:1] = _extra_onnx(args.onnx, args.batch_size, args.threads)
    try:
        estimator, feature_fn, version, label = _estimator(args.models_dir, args.version)
    except RouterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    candidates = [
        Candidate(
            name,
            encoder,
            _decision_path(Scorer(encoder, estimator, feature_fn, version=version), args.policy),
        )
        for name, encoder in encoders
    ]
    _print_header(candidates, label, args.threads)
    _print_latency(candidates, args.iterations)
    _print_beyond_encoder(
        candidates[0].encoder, estimator, feature_fn, version, args.policy, args.iterations
    )
    _print_throughput(candidates, args.batch, args.rounds)
    print(
        f"\nload average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} after,"
        f" on {os.cpu_count()} cores"
    )
    return 0


def _encoders(names: Sequence[str], batch_size: int, threads: int) -> list[tuple[str, TextEncoder]]:
    from classifiers.encoder_choice import load_text_encoder

    loaded: list[tuple[str, TextEncoder]] = []
    for name in names:
        if name not in ("onnx", "torch"):
            raise SystemExit(f"unknown path {name!r}: use onnx and/or torch")
        try:
            kind: Literal["onnx", "torch"] = "onnx" if name == "onnx" else "torch"
            encoder = load_text_encoder(kind, batch_size=batch_size, cache_size=0, threads=threads)
            loaded.append((name, encoder))
        except RouterError as exc:
            print(f"skipping the {name} path: {exc}", file=sys.stderr)
    if not loaded:
        raise SystemExit("no encoder could be loaded")
    return loaded


def _extra_onnx(specs: Sequence[str], batch_size: int, threads: int) -> list[tuple[str, Any]]:
    from classifiers.onnx_encoder import OnnxEncoder

    extra = []
    for spec in specs:
        name, _, directory = spec.partition("=")
        if not directory:
            raise SystemExit(f"--onnx takes NAME=DIR, not {spec!r}")
        loaded = OnnxEncoder.load(
            Path(directory), batch_size=batch_size, cache_size=0, threads=threads
        )
        extra.append((name, loaded))
    return extra


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Decision latency against the bare encoder.")
    parser.add_argument("--models-dir", type=Path, default=SHIPPED_MODELS_DIR)
    parser.add_argument("--version", default=None, help="default: the one named in CURRENT")
    parser.add_argument("--policy", type=Path, default=SHIPPED_POLICY)
    parser.add_argument("--threads", type=int, default=1, help="default 1, as the service runs")
    parser.add_argument("--paths", default="onnx,torch", help="encoders to time, in this order")
    parser.add_argument("--onnx", action="append", default=[], help="NAME=DIR: another export")
    parser.add_argument("--iterations", type=int, default=200, help="per prompt length, batch 1")
    parser.add_argument("--batch", type=int, default=32, help="prompts per throughput call")
    parser.add_argument("--batch-size", type=int, default=32, help="encoder batch size")
    parser.add_argument("--rounds", type=int, default=3, help="throughput calls per path")
    return parser.parse_args(argv)


def _estimator(models_dir: Path, version: str | None) -> tuple[Any, FeatureFn, str, str]:
    """The artifact's estimator and feature_fn (checked against the encoder it was fitted on),
    or a stand-in Ridge when there is no artifact."""
    try:
        version_dir = resolve_version(models_dir, version)
    except ArtifactNotFoundError as exc:
        if version is not None:
            raise
        feature_fn = _optional_build_features()
        return (
            _stand_in_estimator(feature_fn),
            feature_fn,
            STAND_IN_VERSION,
            (f"STAND-IN Ridge on random embeddings ({exc})"),
        )
    artifact = load_as_built(version_dir)
    feature_fn = _feature_fn(artifact.manifest.feature_names)
    label = (
        f"artifact {artifact.manifest.version} from {version_dir}"
        f" (fitted on {artifact.manifest.encoder.name}),"
        f" {_name(feature_fn)}"
    )
    return artifact.estimator, feature_fn, artifact.manifest.version, label


def _feature_fn(feature_names: Sequence[str]) -> FeatureFn:
    if not feature_names:
        return embeddings_only
    from classifiers.features import build_features

    return build_features


def _stand_in_estimator(feature_fn: FeatureFn) -> Ridge:
    """Ridge fitted on random unit rows (and the real text features, if they exist yet)."""
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(256, 384)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    texts = [SHORT.format(i=i) if i % 2 else LONG.format(i=i) for i in range(256)]
    return Ridge(alpha=1.0).fit(feature_fn(texts, rows), rng.uniform(size=256))


def _optional_build_features() -> FeatureFn:
    try:
        from classifiers.features import build_features
    except ImportError:
        return embeddings_only
    return build_features


def _decision_path(scorer: Scorer, policy_path: Path) -> DecisionPath:
    """The decider if it imports, else score + policy tier, else the score alone."""
    # router.decision.policy and router.decision.decider are optional here: they are written
    # concurrently
    try:
        from router.decision.policy_file import load_policy

        policy = load_policy(policy_path)
    except Exception as exc:
        label = f"Scorer.score_one only (policy skipped: {type(exc).__name__}: {exc})"
        return DecisionPath(scorer.score_one, scorer.score, label)

    def choose_all(texts: list[str]) -> object:
        return [policy.choose(float(score)) for score in scorer.score(texts)]

    try:
        from router.decision.decider import Decider

        decider = Decider(scorer, policy)
        decider.decide_text("probe")
    except Exception as exc:
        label = f"Scorer.score_one + Policy.choose (decider skipped: {type(exc).__name__})"
        return DecisionPath(lambda text: policy.choose(scorer.score_one(text)), choose_all, label)
    label = f"Decider.decide_text: score, tier, Decision (policy {policy.version})"
    return DecisionPath(decider.decide_text, choose_all, label + "; batches: score + choose")


def _print_header(candidates: Sequence[Candidate], estimator_label: str, threads: int) -> None:
    print("difficulty-router: decision latency, fast path beside torch path")
    for candidate in candidates:
        encoder = candidate.encoder
        print(
            f"  {candidate.name:<6} {encoder.name}, cache off, {threads} thread(s) of"
            f" {os.cpu_count()} cores"
        )
    print(f"  estimator  {estimator_label}")
    print(f"  decision   {candidates[0].path.label}")


def _print_latency(candidates: Sequence[Candidate], iterations: int) -> None:
    print(
        f"\nbatch 1: {iterations} distinct prompts per path and length, paths taking turns (ms;"
        " cpu = the calling thread's CPU time)"
    )
    print(
        f"{'prompt':<7}{'tokens':>9}{'path':>7}{'p50':>9}{'p99':>9}{'cpu p50':>9}{'vs torch':>10}"
    )
    for label, template in (("short", SHORT), ("long", LONG)):
        texts = _prompts(template)
        wall, cpu = _round_robin([c.path.one for c in candidates], texts, iterations, warmup=5)
        medians = {c.name: float(np.median(w)) for c, w in zip(candidates, wall, strict=True)}
        for candidate, w, c in zip(candidates, wall, cpu, strict=True):
            p50, p99 = _percentiles(w)
            torch = medians.get("torch")
            print(
                f"{label:<7}{_tokens(template):>9}{candidate.name:>7}{p50:>9.2f}{p99:>9.2f}"
                f"{float(np.median(c)):>9.2f}{_times(torch, p50)}"
            )


class _FixedEncoder:
    """The encoder's name and dimension, and one real embedding for every text: what is left of
    a decision without the forward pass is the classifier (features, estimator) and the policy."""

    def __init__(self, encoder: TextEncoder) -> None:
        self.name = encoder.name
        self.dimension = encoder.dimension
        self.files_sha256 = encoder.files_sha256
        self._row = encoder.encode([SHORT.format(i=0)])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.repeat(self._row, len(texts), axis=0)


def _print_beyond_encoder(
    encoder: TextEncoder,
    estimator: Any,
    feature_fn: FeatureFn,
    version: str,
    policy_path: Path,
    iterations: int,
) -> None:
    fixed = Scorer(_FixedEncoder(encoder), estimator, feature_fn, version=version)
    path = _decision_path(fixed, policy_path)
    print("\nbeyond the encoder: the same decision with its forward pass replaced by a lookup (ms)")
    print(f"{'prompt':<7}{'p50':>10}{'p99':>10}")
    for label, template in (("short", SHORT), ("long", LONG)):
        texts = _prompts(template)
        for _ in range(5):
            path.one(next(texts))
        p50, p99 = _percentiles([_elapsed_ms(path.one, next(texts))[0] for _ in range(iterations)])
        print(f"{label:<7}{p50:>10.3f}{p99:>10.3f}")


def _print_throughput(candidates: Sequence[Candidate], batch: int, rounds: int) -> None:
    print(
        f"\nthroughput: {batch} distinct prompts per call (the decision over a batch: score +"
        f" choose), median of {rounds} calls per path (prompts/s)"
    )
    print(f"{'prompt':<7}{'path':>7}{'prompts/s':>11}{'vs torch':>10}")
    for label, template in (("short", SHORT), ("long", LONG)):
        batches = _batches(_prompts(template), batch)
        wall, _ = _round_robin([c.path.many for c in candidates], batches, rounds, warmup=1)
        rates = {
            c.name: batch * 1000.0 / float(np.median(w))
            for c, w in zip(candidates, wall, strict=True)
        }
        for candidate in candidates:
            rate, torch = rates[candidate.name], rates.get("torch")
            print(f"{label:<7}{candidate.name:>7}{rate:>11.1f}{_times(rate, torch)}")


def _times(numerator: float | None, denominator: float | None) -> str:
    """The "vs torch" column: the ratio, or a dash when torch is not among the paths."""
    if numerator is None or denominator is None:
        return f"{'-':>10}"
    return f"{numerator / denominator:>9.1f}x"


def _round_robin(
    functions: Sequence[Callable[[_T], object]], inputs: Iterator[_T], n: int, warmup: int
) -> tuple[list[list[float]], list[list[float]]]:
    """``n`` wall and CPU timings (ms) of each function on fresh inputs, the order rotating each
    iteration, after ``warmup`` untimed iterations."""
    wall: list[list[float]] = [[] for _ in functions]
    cpu: list[list[float]] = [[] for _ in functions]
    for iteration in range(-warmup, n):
        shift = iteration % len(functions)
        for which in [*range(shift, len(functions)), *range(shift)]:
            elapsed, used = _elapsed_ms(functions[which], next(inputs))
            if iteration >= 0:
                wall[which].append(elapsed)
                cpu[which].append(used)
    return wall, cpu


def _elapsed_ms(function: Callable[[_T], object], argument: _T) -> tuple[float, float]:
    """Wall-clock and calling-thread CPU milliseconds of one call."""
    started, cpu_started = time.perf_counter(), time.thread_time()
    function(argument)
    return (time.perf_counter() - started) * 1000.0, (time.thread_time() - cpu_started) * 1000.0


def _prompts(template: str) -> Iterator[str]:
    return (template.format(i=i) for i in count())


def _batches(prompts: Iterator[str], size: int) -> Iterator[list[str]]:
    while True:
        yield [next(prompts) for _ in range(size)]


def _percentiles(samples: list[float]) -> tuple[float, float]:
    p50, p99 = np.percentile(samples, [50, 99])
    return float(p50), float(p99)


def _tokens(template: str) -> str:
    """Word pieces in the prompt, and how many the model keeps if it truncates."""
    from tokenizers import Tokenizer

    from classifiers.onnx_encoder import ENCODERS_DIR, ONNX_DIR_NAME, TOKENIZER_FILE

    directory = ENCODERS_DIR / ONNX_DIR_NAME
    tokenizer = Tokenizer.from_file(str(directory / TOKENIZER_FILE))
    tokenizer.no_truncation()
    total = len(tokenizer.encode(template.format(i=0)).ids)
    limit = json.loads((directory / "encoder.json").read_text())["max_seq_length"]
    return str(total) if total <= limit else f"{total}>{limit}"


def _name(function: Callable[..., Any]) -> str:
    return f"feature_fn {function.__module__}.{function.__qualname__}"


if __name__ == "__main__":
    raise SystemExit(main())
