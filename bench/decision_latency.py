"""Decision latency: the full decision path beside the bare encoder forward it is built on.

    .venv/bin/python -m bench.decision_latency [--models-dir DIR] [--version V]
        [--torch-threads N] [--iterations 200] [--rounds 3]

Prints figures and asserts nothing. The encoder cache is off and every measured text is distinct,
so no figure hides the encoder. Within each iteration the two paths alternate which goes first,
so drift and neighbours' load fall on both alike. The load average is printed because a busy
neighbour changes these numbers more than anything measured here.
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
from typing import Any, TypeVar

import numpy as np
from sklearn.linear_model import Ridge

from classifiers.artifacts.store import load_artifact
from classifiers.artifacts.versions import resolve_version
from classifiers.encoder import Encoder
from classifiers.errors import ArtifactNotFoundError, RouterError
from classifiers.packaged_model import packaged_model_path
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


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    load_before = os.getloadavg()[0]
    encoder = Encoder.load(
        batch_size=args.batch_size, cache_size=0, torch_threads=args.torch_threads
    )
    try:
        scorer, estimator_label = _scorer(encoder, args.models_dir, args.version)
    except RouterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    path = _decision_path(scorer, args.policy)
    _print_header(encoder, estimator_label, path.label)
    _print_latency(encoder, path, args.iterations)
    _print_beyond_encoder(encoder, scorer, args.policy, args.iterations)
    _print_throughput(encoder, path, args.batch, args.rounds)
    print(
        f"\nload average (1 min): {load_before:.2f} before, {os.getloadavg()[0]:.2f} after,"
        f" on {os.cpu_count()} cores"
    )
    return 0


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Decision latency against the bare encoder.")
    parser.add_argument("--models-dir", type=Path, default=SHIPPED_MODELS_DIR)
    parser.add_argument("--version", default=None, help="default: the one named in CURRENT")
    parser.add_argument("--policy", type=Path, default=SHIPPED_POLICY)
    parser.add_argument(
        "--torch-threads", type=int, default=1, help="default 1, as the service runs it"
    )
    parser.add_argument("--iterations", type=int, default=200, help="per prompt length, batch 1")
    parser.add_argument("--batch", type=int, default=64, help="prompts per throughput call")
    parser.add_argument("--batch-size", type=int, default=32, help="encoder batch size")
    parser.add_argument("--rounds", type=int, default=3, help="throughput calls per path")
    return parser.parse_args(argv)


def _scorer(encoder: Encoder, models_dir: Path, version: str | None) -> tuple[Scorer, str]:
    try:
        version_dir = resolve_version(models_dir, version)
    except ArtifactNotFoundError as exc:
        if version is not None:
            raise
        return _stand_in_scorer(encoder), f"STAND-IN Ridge on random embeddings ({exc})"
    artifact = load_artifact(
        version_dir,
        encoder_name=encoder.name,
        encoder_dimension=encoder.dimension,
        encoder_files_sha256=encoder.files_sha256,
    )
    feature_fn = _feature_fn(artifact.manifest.feature_names)
    label = f"artifact {artifact.manifest.version} from {version_dir}, {_name(feature_fn)}"
    return Scorer.from_artifact(encoder, artifact, feature_fn), label


def _feature_fn(feature_names: Sequence[str]) -> FeatureFn:
    if not feature_names:
        return embeddings_only
    from classifiers.features import build_features

    return build_features


def _stand_in_scorer(encoder: Encoder) -> Scorer:
    """Ridge fitted on random unit rows (and the real text features, if they exist yet)."""
    feature_fn = _optional_build_features()
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(256, encoder.dimension)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    texts = [SHORT.format(i=i) if i % 2 else LONG.format(i=i) for i in range(256)]
    estimator = Ridge(alpha=1.0).fit(feature_fn(texts, rows), rng.uniform(size=256))
    return Scorer(encoder, estimator, feature_fn, version=STAND_IN_VERSION)


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


def _print_header(encoder: Encoder, estimator_label: str, decision_label: str) -> None:
    import torch

    print("difficulty-router: decision latency against the bare encoder")
    print(
        f"  encoder    {encoder.name}, cache off, batch_size {encoder.batch_size},"
        f" torch threads {torch.get_num_threads()} of {os.cpu_count()} cores"
    )
    print(f"  estimator  {estimator_label}")
    print(f"  decision   {decision_label}")


def _print_latency(encoder: Encoder, path: DecisionPath, iterations: int) -> None:
    print(f"\nbatch 1: {iterations} distinct prompts per path and length, paths alternating (ms)")
    print(
        f"{'prompt':<7}{'tokens':>9}{'enc p50':>10}{'enc p99':>10}{'dec p50':>10}"
        f"{'dec p99':>10}{'dec-enc p50':>13}{'dec/enc p50':>13}"
    )
    for label, template in (("short", SHORT), ("long", LONG)):
        texts = _prompts(template)
        encode_ms, decide_ms = _interleaved(
            lambda text: encoder.encode([text]), path.one, texts, iterations, warmup=5
        )
        enc, dec = _percentiles(encode_ms), _percentiles(decide_ms)
        print(
            f"{label:<7}{_tokens(template):>9}{enc[0]:>10.2f}{enc[1]:>10.2f}{dec[0]:>10.2f}"
            f"{dec[1]:>10.2f}{dec[0] - enc[0]:>13.2f}{dec[0] / enc[0]:>12.2f}x"
        )


class _FixedEncoder:
    """The encoder's name and dimension, and one real embedding for every text: what is left of
    a decision without the forward pass is the classifier (features, estimator) and the policy."""

    def __init__(self, encoder: Encoder) -> None:
        self.name = encoder.name
        self.dimension = encoder.dimension
        self.files_sha256 = encoder.files_sha256
        self._row = encoder.encode([SHORT.format(i=0)])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.repeat(self._row, len(texts), axis=0)


def _print_beyond_encoder(
    encoder: Encoder, scorer: Scorer, policy_path: Path, iterations: int
) -> None:
    fixed = Scorer(
        _FixedEncoder(encoder), scorer.estimator, scorer.feature_fn, version=scorer.version
    )
    path = _decision_path(fixed, policy_path)
    print("\nbeyond the encoder: the same decision with its forward pass replaced by a lookup (ms)")
    print(f"{'prompt':<7}{'p50':>10}{'p99':>10}")
    for label, template in (("short", SHORT), ("long", LONG)):
        texts = _prompts(template)
        for _ in range(5):
            path.one(next(texts))
        p50, p99 = _percentiles([_elapsed_ms(path.one, next(texts)) for _ in range(iterations)])
        print(f"{label:<7}{p50:>10.3f}{p99:>10.3f}")


def _print_throughput(encoder: Encoder, path: DecisionPath, batch: int, rounds: int) -> None:
    print(
        f"\nthroughput: {batch} distinct prompts per call, encoder batches of"
        f" {encoder.batch_size}, median of {rounds} calls per path (prompts/s)"
    )
    print(f"{'prompt':<7}{'encoder':>10}{'decision':>10}{'dec/enc':>10}")
    for label, template in (("short", SHORT), ("long", LONG)):
        batches = _batches(_prompts(template), batch)
        encode_ms, decide_ms = _interleaved(encoder.encode, path.many, batches, rounds, warmup=1)
        enc_rate = batch * 1000.0 / float(np.median(encode_ms))
        dec_rate = batch * 1000.0 / float(np.median(decide_ms))
        print(f"{label:<7}{enc_rate:>10.1f}{dec_rate:>10.1f}{dec_rate / enc_rate:>9.2f}x")


def _interleaved(
    first: Callable[[_T], object],
    second: Callable[[_T], object],
    inputs: Iterator[_T],
    n: int,
    warmup: int,
) -> tuple[list[float], list[float]]:
    """``n`` timings (ms) of each on fresh inputs, alternating which runs first, after warm-ups."""
    timings: tuple[list[float], list[float]] = ([], [])
    for iteration in range(-warmup, n):
        order = (0, 1) if iteration % 2 == 0 else (1, 0)
        for which in order:
            elapsed = _elapsed_ms((first, second)[which], next(inputs))
            if iteration >= 0:
                timings[which].append(elapsed)
    return timings


def _elapsed_ms(function: Callable[[_T], object], argument: _T) -> float:
    started = time.perf_counter()
    function(argument)
    return (time.perf_counter() - started) * 1000.0


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
    from transformers import AutoTokenizer

    model_dir = packaged_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    total = len(tokenizer(template.format(i=0))["input_ids"])
    limit = json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"]
    return str(total) if total <= limit else f"{total}>{limit}"


def _name(function: Callable[..., Any]) -> str:
    return f"feature_fn {function.__module__}.{function.__qualname__}"


if __name__ == "__main__":
    raise SystemExit(main())
