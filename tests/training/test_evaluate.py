from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from training.datasets import SeedRow
from training.evaluate import EvaluationReport, evaluate
from training.evaluate_report import (
    DOMAIN_PLOT,
    QUALITY_PLOT,
    RELIABILITY_PLOT,
    REPORT_FILE,
    render_table,
    write_report,
)
from training.label_tables import STRONG_MODEL, WEAK_MODEL

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RB11_MODELS = [f"model-{i}" for i in range(11)]


def make_row(n: int, source: str, domain: str, difficulty: float, **labels: Any) -> SeedRow:
    # Harder prompts are longer here, so the length baseline has something to find.
    prompt = f"prompt {n} " + "x" * int(20 + 200 * difficulty)
    return SeedRow(f"{source}:{n}", source, domain, prompt, labels)


def pair_rows(source: str, domain: str, count: int, start: int) -> list[tuple[SeedRow, float]]:
    """The weak model solves difficulty < 0.5, the strong one < 0.8."""
    found = []
    for i, d in enumerate(np.linspace(0.0, 1.0, count)):
        correct = {WEAK_MODEL: bool(d < 0.5), STRONG_MODEL: bool(d < 0.8)}
        found.append((make_row(start + i, source, domain, d, correct=correct), d))
    return found


def synthetic() -> tuple[list[SeedRow], np.ndarray]:
    """A few dozen rows of each label kind; the model's score is the difficulty plus noise."""
    made = pair_rows("routellm_mmlu", "knowledge_mc", 40, 0)
    made += pair_rows("gsm8k", "grade_school_math", 20, 100)
    for i in range(30):
        level = 1 + i % 5
        row = make_row(200 + i, "math_hendrycks", "competition_math", level / 5, level=level)
        made.append((row, level / 5))
    for i in range(22):
        fails = i % 12
        outcomes = {m: float(j >= fails) for j, m in enumerate(RB11_MODELS)}
        made.append(
            (
                make_row(300 + i, "routerbench", "code", fails / 11, rb11_correct=outcomes),
                fails / 11,
            )
        )
    for i, domain in enumerate(["smalltalk_simple", "factoid", "easy_arith", "everyday_chat"] * 6):
        made.append((make_row(400 + i, domain, domain, 0.05), 0.05))
    noise = np.random.default_rng(1).normal(0.0, 0.03, len(made))
    rows = [row for row, _ in made]
    scores = np.clip([d for _, d in made] + noise, 0.0, 1.0)
    return rows, scores


@pytest.fixture(scope="module")
def data() -> tuple[list[SeedRow], np.ndarray]:
    return synthetic()


def test_every_metric_is_reported_beside_its_baselines(
    data: tuple[list[SeedRow], np.ndarray],
) -> None:
    rows, scores = data
    report = evaluate(rows, scores, seed=3)

    fails = report.metric("auroc_weak_model_fails")
    assert fails.n == 60
    assert fails.model is not None and fails.model > 0.95
    assert fails.random is not None and abs(fails.random - 0.5) < 0.25
    assert fails.oracle == 1.0

    apgr = report.metric("apgr[all]")
    assert apgr.model is not None and apgr.random is not None and apgr.oracle is not None
    assert apgr.random < apgr.model <= apgr.oracle
    assert report.metric("cpt50[all]").higher_is_better is False

    level = report.metric("spearman_math_level")
    assert (level.n, level.oracle) == (30, 1.0)
    assert level.model is not None and level.model > 0.9

    rb11 = report.metric("spearman_rb11_fail_share")
    assert rb11.n == 22
    assert rb11.model is not None and rb11.model > 0.9

    easy = report.metric("auroc_easy_domains_vs_math_level4+")
    assert easy.n == 18 + 12
    assert easy.model == 1.0

    hard = report.metric("auroc_everyday_chat_vs_code+math_level5")
    assert hard.n == 6 + 22 + 6
    assert hard.model is not None and hard.model > 0.9


def test_routing_metrics_are_also_reported_per_source(
    data: tuple[list[SeedRow], np.ndarray],
) -> None:
    report = evaluate(*data)

    groups = {m.name for m in report.metrics if m.name.startswith("apgr[")}
    assert groups == {"apgr[all]", "apgr[gsm8k]", "apgr[routellm_mmlu]"}
    assert report.metric("strong_share_q95[gsm8k]").n == 20
    assert [(p.group, p.n) for p in report.pairs] == [
        ("all", 60),
        ("gsm8k", 20),
        ("routellm_mmlu", 40),
    ]
    mmlu = report.pairs[2]
    assert mmlu.weak == pytest.approx(0.5)
    assert mmlu.strong == pytest.approx(0.8)


def test_domain_means_come_easiest_first(data: tuple[list[SeedRow], np.ndarray]) -> None:
    report = evaluate(*data)

    means = [m for m in report.metrics if m.name.startswith("mean_score[")]
    assert means[0].name == "mean_score[smalltalk_simple]"
    assert means[-1].name == "mean_score[competition_math]"
    assert all(m.oracle is None and m.higher_is_better is None for m in means)
    assert means[0].model is not None and means[0].model < 0.1


def test_constant_scores_recover_exactly_half_the_gap(
    data: tuple[list[SeedRow], np.ndarray],
) -> None:
    rows, _ = data
    report = evaluate(rows, np.full(len(rows), 0.5))

    assert report.metric("apgr[all]").model == 0.5
    assert report.metric("auroc_weak_model_fails").model == 0.5
    assert report.metric("spearman_math_level").model is None  # undefined, not a crash


def test_metrics_without_their_rows_are_na_with_n_zero() -> None:
    rows = [make_row(i, "oasst1", "everyday_chat", 0.1) for i in range(5)]
    report = evaluate(rows, np.linspace(0, 1, 5))

    for name in (
        "auroc_weak_model_fails",
        "apgr[all]",
        "cpt80[all]",
        "spearman_math_level",
        "spearman_rb11_fail_share",
        "auroc_easy_domains_vs_math_level4+",
        "auroc_everyday_chat_vs_code+math_level5",
    ):
        metric = report.metric(name)
        assert (metric.n, metric.model, metric.random, metric.length, metric.oracle) == (
            0,
            None,
            None,
            None,
            None,
        )
    assert report.pairs == ()
    assert report.metric("mean_score[everyday_chat]").n == 5


def test_the_random_baseline_is_fixed_by_the_seed(data: tuple[list[SeedRow], np.ndarray]) -> None:
    assert evaluate(*data, seed=5) == evaluate(*data, seed=5)
    assert evaluate(*data, seed=5) != evaluate(*data, seed=6)


def test_one_score_per_row_is_required(data: tuple[list[SeedRow], np.ndarray]) -> None:
    rows, scores = data
    with pytest.raises(ValueError, match="one score per row"):
        evaluate(rows, scores[:-1])


def test_render_table_shows_each_metric_and_na(data: tuple[list[SeedRow], np.ndarray]) -> None:
    rows, scores = data
    report = evaluate(rows, scores)
    table = render_table(report)

    console = Console(file=io.StringIO(), width=160)
    console.print(table)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert [c.header for c in table.columns] == [
        "metric",
        "n",
        "model",
        "random",
        "length",
        "oracle",
    ]
    assert table.row_count == len(report.metrics)
    assert "apgr[all] ↑" in text and "cpt50[all] ↓" in text and "n/a" in text


def test_write_report_writes_json_and_real_pngs(
    data: tuple[list[SeedRow], np.ndarray], tmp_path: Path
) -> None:
    rows, scores = data
    report = evaluate(rows, scores)
    out_dir = tmp_path / "reports" / "v1"

    written = write_report(report, rows, scores, out_dir)

    assert sorted(p.name for p in written) == sorted(
        [REPORT_FILE, DOMAIN_PLOT, QUALITY_PLOT, RELIABILITY_PLOT]
    )
    leftovers = {p.name for p in out_dir.iterdir()} - {p.name for p in written}
    assert leftovers == set()  # no temporary files left behind
    for name in (DOMAIN_PLOT, QUALITY_PLOT):
        assert (out_dir / name).read_bytes().startswith(PNG_SIGNATURE)
    stored = json.loads((out_dir / REPORT_FILE).read_text(encoding="utf-8"))
    assert stored == report.to_dict()
    assert EvaluationReport.from_dict(stored) == report


def test_write_report_skips_the_quality_plot_without_pair_labels(tmp_path: Path) -> None:
    rows = [make_row(i, "clinc150", "smalltalk_simple", 0.1) for i in range(4)]
    scores = np.array([0.1, 0.2, 0.1, 0.3])

    written = write_report(evaluate(rows, scores), rows, scores, tmp_path)

    assert sorted(p.name for p in written) == sorted([REPORT_FILE, DOMAIN_PLOT])
