from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from training import metrics
from training.evaluate import EvaluationReport, Metric
from training.gate import AUROC, ECE, GateDecision, _SortedScores, auroc_win_share, decide
from training.gate_metrics import EscalationCost, GateConfig, HeldOut, LogMetrics, log_metrics
from training.gate_report import (
    GATE_FILE,
    RELIABILITY_PLOT,
    ROC_PLOT,
    render_gate_table,
    write_gate_report,
)
from training.logs import LabelledLogs, TierUsage

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COST = EscalationCost(cheap=0.001, escalated=0.02, unit="USD per 1k requests")


def held_out(n: int = 400, seed: int = 0) -> tuple[LabelledLogs, np.ndarray]:
    """Held-out rows, 80% at the cheap tier; and each row's true cheap-failure probability."""
    rng = np.random.default_rng(seed)
    risk = rng.random(n)
    tiers = np.where(rng.random(n) < 0.8, 0, 2)
    success = np.where(tiers == 0, rng.random(n) >= risk, True)
    logs = LabelledLogs(
        X=np.zeros((n, 2), dtype=np.float32),
        time=np.arange(n, dtype=np.float64),
        tier_index=tiers,
        choice_probability=np.where(rng.random(n) < 0.1, 0.25, 1.0),
        success=success,
        logged_score=np.zeros(n),
        request_ids=tuple(map(str, range(n))),
    )
    return logs, risk


def metrics_for(logs: LabelledLogs, scores: np.ndarray) -> LogMetrics:
    return log_metrics(HeldOut.from_logs(logs), scores, cost=COST, threshold=0.25)


def seed_report(apgr: float, spearman: float) -> EvaluationReport:
    return EvaluationReport(
        n_rows=100,
        seed=0,
        weak_model="weak",
        strong_model="strong",
        metrics=(
            Metric("apgr[all]", 60, apgr, 0.5, 0.5, 1.0, True),
            Metric("spearman_math_level", 40, spearman, 0.0, 0.3, 1.0, True),
            Metric("mean_score[factoid]", 10, 0.9, 0.5, 0.5, None, None),
        ),
        pairs=(),
    )


def test_a_score_that_tracks_the_risk_beats_noise_on_every_gate_metric() -> None:
    logs, risk = held_out()
    noise = np.random.default_rng(1).random(len(logs))

    good, bad = metrics_for(logs, risk), metrics_for(logs, noise)

    assert good.n == int((logs.tier_index == 0).sum())
    assert good.auroc is not None and bad.auroc is not None and good.auroc > bad.auroc + 0.2
    assert good.ece is not None and bad.ece is not None and good.ece < bad.ece
    assert good.cost is not None and bad.cost is not None and good.cost < bad.cost
    assert good.policy_recovered is not None and good.policy_escalation is not None


def test_win_share_is_one_for_a_clearly_better_score_and_zero_for_an_identical_one() -> None:
    logs, risk = held_out()
    held = HeldOut.from_logs(logs)
    noise = np.random.default_rng(1).random(len(logs))

    assert auroc_win_share(held, noise, risk) == 1.0
    assert auroc_win_share(held, risk, risk) == 0.0


def test_the_bootstrap_auroc_agrees_with_scikit_learn() -> None:
    logs, risk = held_out()
    held = HeldOut.from_logs(logs)
    rounded = np.round(risk, 1)  # ties, counted one half by both
    expected = metrics.auroc(held.failed, rounded[held.index], weights=held.weights)

    ranked = _SortedScores(rounded[held.index], held.failed)  # what each resample computes

    assert ranked.auroc(held.weights) == pytest.approx(expected)


def decision(
    base: LogMetrics, candidate: LogMetrics, win_share: float | None = 1.0, **seed: float
) -> GateDecision:
    return decide(
        base_version="base",
        candidate_version="cand",
        base=base,
        candidate=candidate,
        cost_unit=COST.unit,
        win_share=win_share,
        base_seed=seed_report(0.60, 0.50),
        candidate_seed=seed_report(seed.get("apgr", 0.61), seed.get("spearman", 0.50)),
    )


def test_the_gate_passes_a_candidate_better_on_fresh_traffic() -> None:
    logs, risk = held_out()
    noise = np.random.default_rng(1).random(len(logs))

    result = decision(metrics_for(logs, noise), metrics_for(logs, risk))

    assert result.passed, result.reason
    assert result.reason.startswith("passed: on held-out traffic AUROC rose")
    assert result.row(AUROC).verdict == "better"
    assert result.row("seed:spearman_math_level").verdict == "within tolerance"
    assert not any(row.metric.startswith("seed:mean_score") for row in result.rows)


def test_the_gate_refuses_a_worse_candidate_and_says_why() -> None:
    logs, risk = held_out()
    noise = np.random.default_rng(1).random(len(logs))

    result = decision(metrics_for(logs, risk), metrics_for(logs, noise))

    assert not result.passed
    assert result.row(AUROC).verdict == "not better"
    assert result.row(ECE).verdict == "worse"
    assert "AUROC on held-out traffic did not rise" in result.reason


def test_a_small_auroc_gain_that_the_bootstrap_does_not_back_is_refused() -> None:
    logs, risk = held_out()
    noisy = risk + np.random.default_rng(2).normal(scale=0.3, size=len(logs))

    result = decision(metrics_for(logs, noisy), metrics_for(logs, risk), win_share=0.7)

    assert not result.passed
    assert result.row(AUROC).verdict == "not reliably better"
    assert "only in 0.700 of bootstrap resamples" in result.reason


def test_a_seed_metric_worse_beyond_its_tolerance_blocks_promotion() -> None:
    logs, risk = held_out()
    noise = np.random.default_rng(1).random(len(logs))

    result = decision(metrics_for(logs, noise), metrics_for(logs, risk), spearman=0.45)

    assert not result.passed
    row = result.row("seed:spearman_math_level")
    assert (row.verdict, row.tolerance) == ("worse", 0.02)
    assert "seed:spearman_math_level fell by 0.050" in result.reason


def test_too_few_cheap_tier_rows_are_no_evidence() -> None:
    logs, risk = held_out(n=15)

    result = decision(metrics_for(logs, risk), metrics_for(logs, risk))

    assert not result.passed
    assert result.row(AUROC).verdict == "n/a"
    assert result.reason.startswith("refused: no evidence on fresh traffic")


def test_escalation_cost_comes_from_the_logged_tiers_or_counts_escalations() -> None:
    tiers = (
        TierUsage(0, "fast", rows=90, labelled=9, mean_cost_usd=0.001),
        TierUsage(2, "reasoning", rows=10, labelled=1, mean_cost_usd=0.021),
    )

    priced = EscalationCost.from_tiers(tiers)
    unpriced = EscalationCost.from_tiers(tiers[:1])

    assert (priced.cheap, priced.escalated) == (0.001, 0.021)
    assert priced.per_thousand(0.5) == pytest.approx(11.0)
    assert unpriced.unit == "escalations per 1k requests"
    assert unpriced.per_thousand(0.25) == pytest.approx(250.0)


def test_the_gate_report_round_trips_and_draws_both_plots(tmp_path: Path) -> None:
    logs, risk = held_out()
    noise = np.random.default_rng(1).random(len(logs))
    held = HeldOut.from_logs(logs)
    result = decision(metrics_for(logs, noise), metrics_for(logs, risk))

    written = write_gate_report(result, held, noise, risk, tmp_path, config=GateConfig())

    assert {path.name for path in written} == {GATE_FILE, RELIABILITY_PLOT, ROC_PLOT}
    for name in (RELIABILITY_PLOT, ROC_PLOT):
        assert (tmp_path / name).read_bytes().startswith(PNG_SIGNATURE)
    loaded = GateDecision.from_dict(json.loads((tmp_path / GATE_FILE).read_text()))
    assert loaded == result
    console = Console(file=io.StringIO(), width=160)
    console.print(render_gate_table(loaded))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "auroc_cheap_tier_fails ↑" in text and "passed:" in text


def test_a_seed_metric_on_a_handful_of_rows_is_shown_but_not_enforced() -> None:
    logs, risk = held_out()
    noise = np.random.default_rng(1).random(len(logs))
    small = EvaluationReport(
        n_rows=10,
        seed=0,
        weak_model="weak",
        strong_model="strong",
        metrics=(Metric("auroc_weak_model_fails", 9, 0.35, 0.5, 0.5, 1.0, True),),
        pairs=(),
    )

    result = decide(
        base_version="base",
        candidate_version="cand",
        base=metrics_for(logs, noise),
        candidate=metrics_for(logs, risk),
        cost_unit=COST.unit,
        win_share=1.0,
        base_seed=replace(small, metrics=(replace(small.metrics[0], model=0.55),)),
        candidate_seed=small,
    )

    assert result.passed, result.reason
    assert result.row("seed:auroc_weak_model_fails").verdict == "worse (n < 30: not enforced)"
