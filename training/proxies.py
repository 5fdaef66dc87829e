"""Proxies, on seed rows, for the score's acceptance metrics (issue 11), and the per-source tiers.

Each proxy is a ``Metric`` (model, random, length and oracle on the same rows):

- ``apgr_graded[gsm8k_rdc7]``: APGR on GSM8K rows with ``rdc7_scores``, the cheap tier's and the
  strong model's chance of a right answer as ``training.labels.rdc7_pair`` estimates them (the
  hidden set uses GPT-4 vs Mixtral outcomes; the seed data has neither on GSM8K).
- ``apgr_graded[arena_bench_judge]``: APGR on arena-bench v1 with the judge's grades of Mixtral
  (weak) and GPT-4-1106 (strong) as qualities, as RouteLLM scores MT-bench.
- ``auroc_arena_hard_vs_everyday_chat``: hard real requests (``arena_hard_v2``) against the
  everyday chat sources (domain ``everyday_chat``).
- ``share_to_cheapest[...]``: the share of arena-hard and of everyday chat rows whose score falls
  in the cheapest tier's band (below ``cheap_threshold``), when one is given.
- ``spearman_lcb_difficulty`` and ``spearman_lcb_effort_gain``: LiveCodeBench easy/medium/hard,
  and pass@1 gained by o3-mini and o4-mini at high over low reasoning effort.
- ``ece_weak_wrong_strong_right[mmlu+gsm8k]``: calibration against the event itself: MMLU's
  observed 0/1 outcome (Mixtral wrong, GPT-4 right) and GSM8K's graded estimate of it.
- ``ece[outcome rows]``: calibration against every observed or graded target.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from rich.table import Table

from training import metrics
from training.datasets import SeedRow
from training.label_tables import (
    JUDGE_STRONG_MODELS,
    JUDGE_WEAK_MODELS,
    LCB_DIFFICULTY,
    LCB_HIGH_EFFORT,
    LCB_LOW_EFFORT,
)
from training.labels import rdc7_mean_failure, rdc7_pair, seed_targets
from training.measure import Indices, Metric, metric, where
from training.metrics import FloatArray

if TYPE_CHECKING:
    from matplotlib.figure import Figure

HARD_SOURCE = "arena_hard_v2"
EVERYDAY_DOMAIN = "everyday_chat"
CALIBRATION_RULES = frozenset({"observed", "graded"})
EVENT_SOURCES = frozenset({"routellm_mmlu", "gsm8k"})


def proxy_metrics(
    rows: Sequence[SeedRow],
    scorers: Mapping[str, FloatArray],
    cheap_threshold: float | None = None,
) -> list[Metric]:
    """Every proxy the rows allow (n == 0 where they lack the rows)."""
    return [
        _gsm8k_apgr(rows, scorers),
        _judge_apgr(rows, scorers),
        _hard_vs_everyday(rows, scorers),
        *_cheapest_shares(rows, scorers, cheap_threshold),
        *_livecodebench(rows, scorers),
        *_calibration(rows, scorers),
    ]


Calibrated = tuple[Indices, FloatArray]  # rows, and the target each is calibrated against


def calibration_sets(rows: Sequence[SeedRow]) -> tuple[Calibrated, Calibrated]:
    """The rows whose target is an observed or graded outcome, with that target: first the MMLU
    and GSM8K ones (whose target is the event itself), then all of them."""
    targets = seed_targets(rows)
    gain = np.array([t.gain for t in targets], dtype=np.float64)
    every = np.array(
        [i for i, t in enumerate(targets) if t.rule in CALIBRATION_RULES], dtype=np.intp
    )
    event = every[[rows[i].source in EVENT_SOURCES for i in every]] if every.size else every
    return (event, gain[event]), (every, gain[every])


def _gsm8k_apgr(rows: Sequence[SeedRow], scorers: Mapping[str, FloatArray]) -> Metric:
    failure = rdc7_mean_failure(rows)
    pairs = {
        i: rdc7_pair("gsm8k", row.labels["rdc7_scores"], failure.get("gsm8k"))
        for i, row in enumerate(rows)
        if row.source == "gsm8k" and isinstance(row.labels.get("rdc7_scores"), Mapping)
    }
    found = {i: p for i, p in pairs.items() if p is not None}
    idx = np.array(sorted(found), dtype=np.intp)
    weak = np.array([found[i].p_weak for i in idx])
    strong = np.array([found[i].p_strong for i in idx])
    return _graded_apgr("apgr_graded[gsm8k_rdc7]", idx, weak, strong, scorers)


def _judge_apgr(rows: Sequence[SeedRow], scorers: Mapping[str, FloatArray]) -> Metric:
    weak_model, strong_model = JUDGE_WEAK_MODELS[0], JUDGE_STRONG_MODELS[0]
    idx = where(
        rows,
        lambda row: (
            isinstance(row.labels.get("judge_scores"), Mapping)
            and {weak_model, strong_model} <= row.labels["judge_scores"].keys()
        ),
    )
    weak = np.array([rows[i].labels["judge_scores"][weak_model] for i in idx], dtype=float)
    strong = np.array([rows[i].labels["judge_scores"][strong_model] for i in idx], dtype=float)
    return _graded_apgr("apgr_graded[arena_bench_judge]", idx, weak, strong, scorers)


def _graded_apgr(
    name: str,
    idx: Indices,
    weak: FloatArray,
    strong: FloatArray,
    scorers: Mapping[str, FloatArray],
) -> Metric:
    def measure(scores: FloatArray) -> float:
        return metrics.graded_apgr(scores, weak, strong)

    return metric(name, idx, measure, scorers, strong - weak)


def _hard_vs_everyday(rows: Sequence[SeedRow], scorers: Mapping[str, FloatArray]) -> Metric:
    pos = where(rows, lambda row: row.source == HARD_SOURCE)
    neg = where(rows, lambda row: row.domain == EVERYDAY_DOMAIN)
    if pos.size == 0 or neg.size == 0:
        pos = neg = np.array([], dtype=np.intp)
    labels = np.concatenate([np.ones(pos.size), np.zeros(neg.size)])

    def measure(scores: FloatArray) -> float:
        return metrics.auroc(labels, scores)

    name = "auroc_arena_hard_vs_everyday_chat"
    return metric(name, np.concatenate([pos, neg]), measure, scorers, labels)


def _cheapest_shares(
    rows: Sequence[SeedRow], scorers: Mapping[str, FloatArray], threshold: float | None
) -> list[Metric]:
    if threshold is None:
        return []

    def measure(scores: FloatArray) -> float:
        return float(np.mean(scores < threshold)) if scores.size else float("nan")

    hard = where(rows, lambda row: row.source == HARD_SOURCE)
    everyday = where(rows, lambda row: row.domain == EVERYDAY_DOMAIN)
    return [
        metric(f"share_to_cheapest[{name}]", idx, measure, scorers, None, higher_is_better=None)
        for name, idx in (("arena_hard_v2", hard), ("everyday_chat", everyday))
    ]


def _livecodebench(rows: Sequence[SeedRow], scorers: Mapping[str, FloatArray]) -> list[Metric]:
    idx = where(
        rows,
        lambda row: (
            row.labels.get("difficulty") in LCB_DIFFICULTY
            and isinstance(row.labels.get("pass_at_1"), Mapping)
        ),
    )
    level = np.array([LCB_DIFFICULTY[rows[i].labels["difficulty"]] for i in idx], dtype=float)
    gain = np.array([effort_gain(rows[i].labels["pass_at_1"]) for i in idx], dtype=float)
    return [
        _spearman("spearman_lcb_difficulty", idx, level, scorers),
        _spearman("spearman_lcb_effort_gain", idx, gain, scorers),
    ]


def effort_gain(pass_at_1: Mapping[str, float]) -> float:
    """Mean pass@1 (as a share) gained by o3-mini and o4-mini at high over low effort."""
    high = np.mean([float(pass_at_1.get(m, np.nan)) for m in LCB_HIGH_EFFORT])
    low = np.mean([float(pass_at_1.get(m, np.nan)) for m in LCB_LOW_EFFORT])
    return float(high - low) / 100.0


def _spearman(
    name: str, idx: Indices, values: FloatArray, scorers: Mapping[str, FloatArray]
) -> Metric:
    known = ~np.isnan(values)
    idx, values = idx[known], values[known]

    def measure(scores: FloatArray) -> float:
        return metrics.spearman(values, scores)

    return metric(name, idx, measure, scorers, values)


def _calibration(rows: Sequence[SeedRow], scorers: Mapping[str, FloatArray]) -> list[Metric]:
    found = []
    event, every = calibration_sets(rows)
    for name, (idx, target) in {
        "ece_weak_wrong_strong_right[mmlu+gsm8k]": event,
        "ece[outcome rows]": every,
    }.items():

        def measure(scores: FloatArray, target: FloatArray = target) -> float:
            return metrics.expected_calibration_error(target, scores)

        found.append(metric(name, idx, measure, scorers, target, higher_is_better=False))
    return found


@dataclass(frozen=True)
class SourceTiers:
    """How a source's rows spread over the policy's tiers."""

    source: str
    n: int
    shares: dict[str, float]  # tier name -> share of the source's rows


def tiers_by_source(
    rows: Sequence[SeedRow], scores: FloatArray, tiers: Sequence[tuple[str, float]]
) -> list[SourceTiers]:
    """Per source, the share of rows each tier takes; ``tiers`` is (name, lower band edge),
    cheapest first, and a score on an edge goes to the higher tier (as in the policy)."""
    edges = np.array([low for _, low in tiers[1:]], dtype=float)
    names = [name for name, _ in tiers]
    chosen = np.searchsorted(edges, np.asarray(scores, dtype=float), side="right")
    by_source: defaultdict[str, Counter[int]] = defaultdict(Counter)
    for row, tier in zip(rows, chosen.tolist(), strict=True):
        by_source[row.source][tier] += 1
    found = []
    for source in sorted(by_source):
        counts = by_source[source]
        total = sum(counts.values())
        shares = {names[t]: counts[t] / total for t in range(len(names))}
        found.append(SourceTiers(source, total, shares))
    return found


def reliability_figure(rows: Sequence[SeedRow], scores: FloatArray) -> Figure | None:
    """Mean score against the observed rate of the event, per score bin: MMLU + GSM8K, and every
    row with an observed or graded target. None without such rows."""
    event, every = calibration_sets(rows)
    panels = {
        "weak wrong, strong right: MMLU + GSM8K": event,
        "every observed or graded target": every,
    }
    if all(idx.size == 0 for idx, _ in panels.values()):
        return None
    from matplotlib.figure import Figure  # heavy, and only the report needs it

    figure = Figure(figsize=(10, 5), layout="constrained")
    for axes, (title, (idx, target)) in zip(figure.subplots(1, 2), panels.items(), strict=True):
        axes.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
        if idx.size:
            cut = metrics.calibration_bins(target, scores[idx])
            filled = cut.weight > 0
            ece = metrics.expected_calibration_error(target, scores[idx])
            axes.plot(cut.mean_score[filled], cut.rate[filled], marker="o", label=f"ECE {ece:.3f}")
            for x, y, n in zip(
                cut.mean_score[filled], cut.rate[filled], cut.weight[filled], strict=True
            ):
                axes.annotate(
                    f"{int(n)}", (x, y), fontsize=7, textcoords="offset points", xytext=(4, -8)
                )
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1)
        axes.set_xlabel("mean score in bin")
        axes.set_ylabel("observed rate (mean target)")
        axes.set_title(f"{title} (n={idx.size})", fontsize=10)
        axes.legend(loc="upper left", fontsize=8)
    return figure


def render_tier_table(found: Sequence[SourceTiers]) -> Table:
    """source | n | one column per tier: the share of the source's rows that tier takes."""
    names = list(found[0].shares) if found else []
    table = Table(title="Tier the policy picks, by source (share of rows)")
    table.add_column("source")
    table.add_column("n", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    for entry in found:
        table.add_row(entry.source, str(entry.n), *(f"{entry.shares[n]:.0%}" for n in names))
    return table
