"""``router logs stats`` as a table: one row per tier and model."""

from __future__ import annotations

from collections.abc import Sequence

from rich.box import SIMPLE_HEAD
from rich.table import Table

from router.log.stats import TierStats

__all__ = ["stats_table"]

_COLUMNS = (
    "tier",
    "model",
    "requests",
    "ok",
    "tokens p50 in/out",
    "reasoning p50/p90",
    "cost total",
    "cost/answer",
    "latency ms p50/p90/p99",
    "success",
    "control obeyed",
    "forecast error p50",
    "cost <= p90",
)


def stats_table(rows: Sequence[TierStats]) -> Table:
    table = Table(box=SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
    for column in _COLUMNS:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row.tier,
            row.model,
            str(row.requests),
            str(row.answered),
            f"{_n(row.prompt_tokens_p50)}/{_n(row.output_tokens_p50)}",
            f"{_n(row.reasoning_tokens_p50)}/{_n(row.reasoning_tokens_p90)}",
            f"${row.cost_usd_total:.4f}",
            "-" if row.cost_usd_mean is None else f"${row.cost_usd_mean:.6f}",
            "/".join(_n(v) for v in (row.latency_ms_p50, row.latency_ms_p90, row.latency_ms_p99)),
            _rate(row.success_rate, row.outcomes),
            _rate(row.obedience_rate, row.obedience_checked),
            _rate(row.forecast_error_median, row.forecasts),
            _rate(row.within_p90_share, row.forecasts),
        )
    return table


def _n(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _rate(value: float | None, count: int) -> str:
    return "-" if value is None else f"{value:.0%} of {count}"
