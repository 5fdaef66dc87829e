"""Metrics of the compute controls, in the service's registry beside ``ServiceMetrics``.

    router_control_judged_total{model, control, obeyed}   requests judged against the thinking
                                                           control sent (router.log.obedience)
    router_control_ignored{model, control}                 1 once the model is flagged for
                                                           ignoring its control
    router_spend_downgrades_total{cap, step}               requests lowered near a spend cap
                                                           (step: effort, tier)
    router_spend_refused_total{cap}                        requests refused at a spend cap

Labels come from the policy (models, controls, cap names) or fixed sets, never from the client.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from router.log.obedience import Flag, Obedience

__all__ = ["ComputeMetrics"]


class ComputeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.control_judged = Counter(
            "router_control_judged",
            "Answered requests judged against the thinking control sent, by model, control"
            " style and whether the model kept to it.",
            ["model", "control", "obeyed"],
            registry=registry,
        )
        self.control_ignored = Gauge(
            "router_control_ignored",
            "1 for a model flagged for ignoring its thinking control (per control style).",
            ["model", "control"],
            registry=registry,
        )
        self.downgrades = Counter(
            "router_spend_downgrades",
            "Requests lowered near a spend cap, by cap and step (effort, tier).",
            ["cap", "step"],
            registry=registry,
        )
        self.refused = Counter(
            "router_spend_refused",
            "Requests refused with a 429 at a spend cap.",
            ["cap"],
            registry=registry,
        )

    def judged(self, verdict: Obedience) -> None:
        obeyed = "true" if verdict.obeyed else "false"
        self.control_judged.labels(verdict.model, verdict.control, obeyed).inc()

    def flagged(self, flag: Flag) -> None:
        self.control_ignored.labels(flag.model, flag.control).set(1)
