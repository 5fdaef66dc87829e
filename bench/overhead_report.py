"""The service overhead bench's printing: the header, the table and the verdict per encoder."""

from __future__ import annotations

import argparse
import os
from typing import Any

from bench.overhead_load import Timings


def header(
    args: argparse.Namespace,
    classifiers: dict[str, str],
    upstream: str,
    services: dict[str, tuple[Any, str]],
) -> str:
    lines = ["difficulty-router: latency the service adds to an upstream call"]
    for encoder, (_, url) in services.items():
        lines.append(f"  {encoder:<8} {url}: {classifiers[encoder]}")
    lines += [
        f"  upstream {upstream} (scripted test server, answers at once)",
        f"  services create_app under uvicorn, one process each, encoder threads"
        f" {args.threads or 'per settings'}",
        f"  requests {args.requests_c1} per path at c=1, {args.requests_cn} per path at"
        f" c={args.concurrency}, interleaved; {os.cpu_count()} cores,"
        f" load {os.getloadavg()[0]:.2f}",
    ]
    return "\n".join(lines)


def print_table(results: dict[int, dict[str, Timings]]) -> None:
    print(
        f"\n{'path':<15}{'conc':>6}{'ok':>7}{'errors':>8}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>8}"
        f"{'svc cpu ms/req':>16}"
    )
    for concurrency, timings in results.items():
        for name, timing in timings.items():
            print(
                f"{name:<15}{concurrency:>6}{len(timing.ms):>7}{timing.errors:>8}"
                f"{timing.percentile(50):>9.2f}{timing.percentile(99):>9.2f}{timing.rate:>8.0f}"
                f"{timing.service_cpu_ms:>16.2f}"
            )
    for concurrency, timings in results.items():
        for name, timing in timings.items():
            if timing.failures:
                said = ", ".join(f"{n}x {kind}" for kind, n in timing.failures.most_common())
                print(f"errors   {name} at c={concurrency}: {said}")


def print_verdict(results: dict[int, dict[str, Timings]], decision_means: dict[str, float]) -> None:
    for encoder, mean in decision_means.items():
        print(f"\n[{encoder}] server-side decision time (mean, all requests): {mean:.2f} ms")
        for concurrency, timings in results.items():
            service, route = timings[f"service[{encoder}]"], timings[f"route[{encoder}]"]
            added = service.percentile(50) - timings["direct"].percentile(50)
            budget = route.percentile(50) + 2.0
            verdict = "within" if added <= budget else "OVER"
            print(
                f"c={concurrency:<3} added p50 (service - direct) {added:7.2f} ms"
                f"  vs decision p50 (route) + 2 ms {budget:7.2f} ms: {verdict}"
            )
            floor = timings["litellm"].percentile(50) - timings["direct"].percentile(50)
            beyond = added - route.percentile(50)
            print(
                f"c={concurrency:<3} beyond its decision the service adds {beyond:7.2f} ms p50;"
                f" the litellm call alone adds {floor:7.2f} ms over direct;"
                f" service CPU per chat request beyond a route one"
                f" {service.service_cpu_ms - route.service_cpu_ms:6.2f} ms"
            )
    if {"onnx", "torch"} <= set(decision_means):
        for concurrency, timings in results.items():
            ratio = timings["service[onnx]"].rate / timings["service[torch]"].rate
            print(f"\nc={concurrency:<3} requests/s, onnx service over torch service: {ratio:.2f}x")
