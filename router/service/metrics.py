"""Prometheus metrics of one app instance, in a registry of its own (two apps never collide).

    router_requests_total{endpoint, tier, model, status, key}  every HTTP response
    router_decision_seconds                                  scoring + policy lookup
    router_upstream_seconds{tier, model}                     answered upstream calls
    router_upstream_resent_total{model}                      calls sent again: the upstream
                                                             closed the connection unanswered
    router_tokens_total{tier, model, kind, key}              kind: prompt, completion, reasoning
    router_cost_usd_total{tier, model, key}                  litellm's price of the answer
    router_decision_log_overflow_total                       records spooled because the queue
                                                             was full (kept, not dropped)
    router_decision_log_queued                               records waiting in the queue
    router_decision_log_spooled                              records waiting in the spool
    router_decision_records_dropped_total                    records lost: neither the sink nor
                                                             the spool could take them

Label values come from the policy (tier, model) or a fixed set (endpoint, kind, HTTP status),
never from the client, so their number stays bounded; ``key`` is the API key's id (``open``
when the service runs without keys, ``none`` before authentication), never the key itself, and
there are as many as keys were created. ``tier`` and ``model`` are ``none`` for a
response sent before a decision. On the token and cost series ``model`` is the model that
answered, a fallback's id if one was used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from router.upstream.results import Usage

__all__ = ["CONTENT_TYPE", "NO_DECISION", "ServiceMetrics"]

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
NO_DECISION: Final = "none"
DECISION_BUCKETS: Final = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
UPSTREAM_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0, 600.0)


class ServiceMetrics:
    """The service's counters and histograms, and their text exposition."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "router_requests",
            "HTTP responses by endpoint, decided tier and model, status code and API key id.",
            ["endpoint", "tier", "model", "status", "key"],
            registry=self.registry,
        )
        self.decision_seconds = Histogram(
            "router_decision_seconds",
            "Time to score a prompt and look up its tier.",
            buckets=DECISION_BUCKETS,
            registry=self.registry,
        )
        self.upstream_seconds = Histogram(
            "router_upstream_seconds",
            "Time from the upstream call to its answer (all samples, retries and fallbacks).",
            ["tier", "model"],
            buckets=UPSTREAM_BUCKETS,
            registry=self.registry,
        )
        self.resent = Counter(
            "router_upstream_resent",
            "Upstream calls sent again because the upstream closed or reset the connection"
            " before answering (router.upstream.pool), by the policy's model id.",
            ["model"],
            registry=self.registry,
        )
        self.tokens = Counter(
            "router_tokens",
            "Tokens by tier, answering model, kind (prompt, completion, reasoning) and key id.",
            ["tier", "model", "kind", "key"],
            registry=self.registry,
        )
        self.cost_usd = Counter(
            "router_cost_usd",
            "Cost in US dollars by tier, answering model and key id, as litellm prices it.",
            ["tier", "model", "key"],
            registry=self.registry,
        )
        self.records_dropped = Counter(
            "router_decision_records_dropped",
            "Decision records lost: neither the sink nor the spool could take them.",
            registry=self.registry,
        )
        self.log_overflow = Counter(
            "router_decision_log_overflow",
            "Decision records written straight to the spool because the queue was full.",
            registry=self.registry,
        )
        self.queued = Gauge(
            "router_decision_log_queued",
            "Decision records waiting in the recorder's queue for the sink.",
            registry=self.registry,
        )
        self.spooled = Gauge(
            "router_decision_log_spooled",
            "Decision records waiting in the local spool for the store to take them.",
            registry=self.registry,
        )

        self.reloads = Counter(
            "router_classifier_reloads",
            "Attempts to switch to the version CURRENT names, by result (loaded or refused).",
            ["result"],
            registry=self.registry,
        )

    def count_resend(self, model: str) -> None:
        self.resent.labels(model).inc()

    def count_reload(self, version: str, ok: bool) -> None:
        self.reloads.labels("loaded" if ok else "refused").inc()

    def count_response(
        self, endpoint: str, tier: str, model: str, status: int, key: str = NO_DECISION
    ) -> None:
        self.requests.labels(endpoint, tier, model, str(status), key).inc()

    def observe_decision(self, decision_ms: float) -> None:
        self.decision_seconds.observe(decision_ms / 1000.0)

    def observe_answer(
        self,
        tier: str,
        model: str,
        usage: Usage,
        cost_usd: float,
        upstream_ms: float | None,
        key: str = NO_DECISION,
    ) -> None:
        """An upstream call's tokens and cost (failed samples' too) and, if it answered, its
        latency."""
        if upstream_ms is not None:
            self.upstream_seconds.labels(tier, model).observe(upstream_ms / 1000.0)
        self.tokens.labels(tier, model, "prompt", key).inc(usage.prompt_tokens)
        self.tokens.labels(tier, model, "completion", key).inc(usage.completion_tokens)
        self.tokens.labels(tier, model, "reasoning", key).inc(usage.reasoning_tokens)
        self.cost_usd.labels(tier, model, key).inc(cost_usd)

    def count_dropped_record(self) -> None:
        self.records_dropped.inc()

    def count_overflow(self) -> None:
        self.log_overflow.inc()

    def watch_queue(self, queued: Callable[[], int]) -> None:
        """Report ``queued()`` as the queued gauge at each scrape."""
        self.queued.set_function(lambda: float(queued()))

    def watch_spool(self, backlog: Callable[[], int]) -> None:
        """Report ``backlog()`` as the spooled gauge at each scrape."""
        self.spooled.set_function(lambda: float(backlog()))

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format (``CONTENT_TYPE``)."""
        return generate_latest(self.registry)
