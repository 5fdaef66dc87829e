"""The evaluation report: each metric of a difficulty score beside the baselines it has to beat.

``evaluate(rows, scores)`` computes every metric the rows' labels allow, for four scorers at once:

    model    the scores under evaluation
    random   uniform noise drawn from ``seed``: the floor
    length   the prompt's length in characters, as a percentile among the rows: the cheap heuristic
    oracle   the best possible score from that metric's own labels: the ceiling

A metric whose rows are absent is still reported, with ``n == 0`` and no values, so that reports
from different data line up. ``training.evaluate_report`` shows a report and stores it with its
plots.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from training import metrics
from training.datasets import SeedRow
from training.label_tables import STRONG_MODEL, WEAK_MODEL
from training.labels import OUTCOME_LABEL, outcome_gain
from training.measure import Indices, Measure
from training.measure import Metric as Metric
from training.measure import candidates as scorer_scores
from training.measure import checked_scores as checked_scores
from training.measure import defined as defined
from training.measure import metric as _metric
from training.measure import where as _where
from training.metrics import FloatArray
from training.proxies import proxy_metrics

EASY_DOMAINS = frozenset({"smalltalk_simple", "factoid", "easy_arith"})
# Roughly easiest to hardest, for plots; domains not listed follow alphabetically.
DOMAIN_ORDER = (
    "smalltalk_simple",
    "factoid",
    "everyday_chat",
    "easy_arith",
    "grade_school_math",
    "science_mc",
    "commonsense_mc",
    "knowledge_mc",
    "code",
    "competition_math",
)


@dataclass(frozen=True)
class PairAccuracy:
    """The weak and strong models' own accuracies on a group the routing metrics use."""

    group: str
    n: int
    weak: float
    strong: float


@dataclass(frozen=True)
class EvaluationReport:
    n_rows: int
    seed: int
    weak_model: str
    strong_model: str
    metrics: tuple[Metric, ...]
    pairs: tuple[PairAccuracy, ...]

    def metric(self, name: str) -> Metric:
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only; undefined values are ``None``."""
        return {
            **asdict(self),
            "metrics": [asdict(metric) for metric in self.metrics],
            "pairs": [asdict(pair) for pair in self.pairs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationReport:
        return cls(
            n_rows=data["n_rows"],
            seed=data["seed"],
            weak_model=data["weak_model"],
            strong_model=data["strong_model"],
            metrics=tuple(Metric(**metric) for metric in data["metrics"]),
            pairs=tuple(PairAccuracy(**pair) for pair in data["pairs"]),
        )


def evaluate(
    rows: Sequence[SeedRow],
    scores: npt.ArrayLike,
    *,
    seed: int = 0,
    cheap_threshold: float | None = None,
) -> EvaluationReport:
    """Measure ``scores`` (one per row, higher is harder) against every label the rows carry.

    ``cheap_threshold`` (the upper edge of the policy's cheapest band) adds the shares of hard
    and of everyday requests sent to the cheapest tier (``training.proxies``).
    """
    candidates = scorer_scores(rows, checked_scores(rows, scores), seed)
    groups = pair_groups(rows)
    return EvaluationReport(
        n_rows=len(rows),
        seed=seed,
        weak_model=WEAK_MODEL,
        strong_model=STRONG_MODEL,
        metrics=(
            _weak_fails_auroc(rows, groups[0][1], candidates),
            *(m for group, idx in groups for m in _routing_metrics(rows, group, idx, candidates)),
            _level_spearman(rows, candidates),
            _rb11_spearman(rows, candidates),
            *_user_outcome_metrics(rows, candidates),
            *_domain_separations(rows, candidates),
            *proxy_metrics(rows, candidates, cheap_threshold),
            *_domain_means(rows, candidates),
        ),
        pairs=tuple(_pair_accuracy(rows, group, idx) for group, idx in groups if idx.size),
    )


# --- the metrics -----------------------------------------------------------------------------


def pair_groups(rows: Sequence[SeedRow]) -> list[tuple[str, Indices]]:
    """Rows with both models' outcomes: "all" of them, then each source when there are several."""
    idx = _where(rows, lambda row: {WEAK_MODEL, STRONG_MODEL} <= row.model_correct.keys())
    sources = sorted({rows[i].source for i in idx})
    groups = [("all", idx)]
    if len(sources) > 1:
        groups += [
            (s, idx[np.array([rows[i].source == s for i in idx], dtype=bool)]) for s in sources
        ]
    return groups


def outcomes(rows: Sequence[SeedRow], idx: Indices, model: str) -> FloatArray:
    """1.0 where ``model`` answered row ``i`` correctly, else 0.0, for each ``i`` in ``idx``."""
    return np.array([rows[i].model_correct[model] for i in idx], dtype=np.float64)


def _weak_fails_auroc(
    rows: Sequence[SeedRow], idx: Indices, candidates: Mapping[str, FloatArray]
) -> Metric:
    fails = 1.0 - outcomes(rows, idx, WEAK_MODEL)

    def measure(scores: FloatArray) -> float:
        return metrics.auroc(fails, scores)

    return _metric("auroc_weak_model_fails", idx, measure, candidates, fails)


def _routing_metrics(
    rows: Sequence[SeedRow], group: str, idx: Indices, candidates: Mapping[str, FloatArray]
) -> list[Metric]:
    """APGR (↑), CPT(50%), CPT(80%) and the strong share for 95% quality (↓) on one group."""
    weak, strong = outcomes(rows, idx, WEAK_MODEL), outcomes(rows, idx, STRONG_MODEL)
    measures: dict[str, tuple[Measure, bool]] = {
        "apgr": (lambda s: metrics.apgr(s, weak, strong), True),
        "cpt50": (lambda s: metrics.cpt(s, weak, strong, pgr=0.5), False),
        "cpt80": (lambda s: metrics.cpt(s, weak, strong, pgr=0.8), False),
        "strong_share_q95": (lambda s: metrics.strong_share_for_quality(s, weak, strong), False),
    }
    return [
        _metric(f"{name}[{group}]", idx, measure, candidates, strong - weak, higher_is_better=up)
        for name, (measure, up) in measures.items()
    ]


def _pair_accuracy(rows: Sequence[SeedRow], group: str, idx: Indices) -> PairAccuracy:
    weak, strong = outcomes(rows, idx, WEAK_MODEL), outcomes(rows, idx, STRONG_MODEL)
    return PairAccuracy(group, int(idx.size), float(weak.mean()), float(strong.mean()))


def _level_spearman(rows: Sequence[SeedRow], candidates: Mapping[str, FloatArray]) -> Metric:
    idx = _where(rows, lambda row: row.level is not None)
    levels = np.array([rows[i].level for i in idx], dtype=np.float64)

    def measure(scores: FloatArray) -> float:
        return metrics.spearman(levels, scores)

    return _metric("spearman_math_level", idx, measure, candidates, levels)


def _rb11_spearman(rows: Sequence[SeedRow], candidates: Mapping[str, FloatArray]) -> Metric:
    """Against the share of RouterBench models that fail (a missing outcome counts for neither)."""
    idx = _where(rows, lambda row: bool(row.rb11_correct))
    fail_share = np.array([1.0 - np.mean(list(rows[i].rb11_correct.values())) for i in idx])

    def measure(scores: FloatArray) -> float:
        return metrics.spearman(fail_share, scores)

    return _metric("spearman_rb11_fail_share", idx, measure, candidates, fail_share)


def _user_outcome_metrics(
    rows: Sequence[SeedRow], candidates: Mapping[str, FloatArray]
) -> list[Metric]:
    """On a user's outcome rows: Spearman against the gain label, and on the true/false ones the
    AUROC for "the weak setting fails and the strong one succeeds"."""
    idx = _where(rows, lambda row: isinstance(row.labels.get(OUTCOME_LABEL), Mapping))
    pairs = [rows[i].labels[OUTCOME_LABEL] for i in idx]
    gain = np.array([outcome_gain(p["weak"], p["strong"]) for p in pairs], dtype=np.float64)
    binary = np.array([_is_binary(p) for p in pairs], dtype=bool)

    def spearman(scores: FloatArray) -> float:
        return metrics.spearman(gain, scores)

    def auroc(scores: FloatArray) -> float:
        return metrics.auroc(gain[binary], scores)

    return [
        _metric("spearman_outcome_gain[user]", idx, spearman, candidates, gain),
        _metric("auroc_outcome_gain[user]", idx[binary], auroc, candidates, gain[binary]),
    ]


def _is_binary(pair: Mapping[str, Any]) -> bool:
    return isinstance(pair["weak"], bool) and isinstance(pair["strong"], bool)


def _domain_separations(
    rows: Sequence[SeedRow], candidates: Mapping[str, FloatArray]
) -> list[Metric]:
    def math_level(row: SeedRow) -> int:
        return (row.level or 0) if row.domain == "competition_math" else 0

    easy_vs_math = _separation(
        rows,
        "auroc_easy_domains_vs_math_level4+",
        positive=lambda row: math_level(row) >= 4,
        negative=lambda row: row.domain in EASY_DOMAINS,
        candidates=candidates,
    )
    chat_vs_hard = _separation(
        rows,
        "auroc_everyday_chat_vs_code+math_level5",
        positive=lambda row: row.domain == "code" or math_level(row) == 5,
        negative=lambda row: row.domain == "everyday_chat",
        candidates=candidates,
    )
    return [easy_vs_math, chat_vs_hard]


def _separation(
    rows: Sequence[SeedRow],
    name: str,
    *,
    positive: Callable[[SeedRow], bool],
    negative: Callable[[SeedRow], bool],
    candidates: Mapping[str, FloatArray],
) -> Metric:
    """AUROC of the score for ``positive`` rows against ``negative`` ones; n/a unless both exist."""
    pos, neg = _where(rows, positive), _where(rows, negative)
    if pos.size == 0 or neg.size == 0:
        pos = neg = np.array([], dtype=np.intp)
    labels = np.concatenate([np.ones(pos.size), np.zeros(neg.size)])

    def measure(scores: FloatArray) -> float:
        return metrics.auroc(labels, scores)

    return _metric(name, np.concatenate([pos, neg]), measure, candidates, labels)


def _domain_means(rows: Sequence[SeedRow], candidates: Mapping[str, FloatArray]) -> list[Metric]:
    return [
        _metric(f"mean_score[{domain}]", idx, _mean, candidates, None, higher_is_better=None)
        for domain, idx in by_domain(rows)
    ]


def by_domain(rows: Sequence[SeedRow]) -> list[tuple[str, Indices]]:
    """Row indices per domain, roughly easiest first (``DOMAIN_ORDER``, then by name)."""
    present = {row.domain for row in rows}
    ordered = [d for d in DOMAIN_ORDER if d in present] + sorted(present - set(DOMAIN_ORDER))
    domains = np.array([row.domain for row in rows], dtype=object)
    return [(domain, np.flatnonzero(domains == domain)) for domain in ordered]


def _mean(values: FloatArray) -> float:
    return float(np.mean(values))
