"""Service overhead: the same chat request sent to the upstream directly and through the router.

    .venv/bin/python -m bench.service_overhead [--requests-c1 300] [--requests-cn 2000]
        [--concurrency 64] [--encoder onnx,torch]

Processes on loopback: the scripted test upstream (tests/upstream_server.py), one service per
encoder in ``--encoder`` (``create_app`` under uvicorn, every tier pointing at that upstream;
``onnx`` the int8 ONNX export, ``torch`` the original, ``hashing`` the test stand-in), and this
client. The paths are timed side by side, interleaved so that drift and neighbours' load fall on
all alike:

    direct         POST upstream /v1/chat/completions
    service[enc]   POST router   /v1/chat/completions   (model "auto": decide, call, answer)
    route[enc]     POST router   /v1/route              (the decision alone, no upstream call)
    litellm        the service's upstream call (router.upstream.client.Upstream, the litellm Router)
                   made from the bench process: no HTTP server, no decision, just litellm

first one request at a time, then ``--concurrency`` at once. Every prompt is distinct, so the
encoder cache hides nothing. Every service runs the estimator of the shipped version
(models/CURRENT), re-saved for the other encoder if it was fitted on another (its cost does not
depend on where the embedding came from; its scores are then for timing only); without one, a
stand-in Ridge (random fit), and the header says so. The target printed at the end: the p50 the
service adds over the direct call should stay within the decision's own p50 plus 2 ms. Prints
figures and asserts nothing.

Latency on a shared machine swings by a millisecond or more from run to run, so the table also
gives the service's own CPU time per request on each path (the sum over its threads, from Linux's
schedstat; "nan" elsewhere): ``service`` minus ``route`` is the CPU a chat request spends beyond
its decision, a figure neighbours' load moves far less. Work the service does after answering
(litellm's logging) is counted on whichever path runs next; the ``direct`` row, where the service
has nothing else to do, shows how much that is.

Its parts: ``bench.overhead_setup`` (the models and the policy each service serves),
``bench.overhead_servers`` (the upstream and service processes), ``bench.overhead_load`` (the
paths and the load driven through them), ``bench.overhead_report`` (what is printed).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.overhead_load import measure
from bench.overhead_report import header, print_table, print_verdict
from bench.overhead_servers import run_service, run_upstream, start, wait_ready
from bench.overhead_setup import classifier, write_policy


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    context = multiprocessing.get_context("spawn")
    services: dict[str, tuple[Any, str]] = {}
    with tempfile.TemporaryDirectory(prefix="router-bench-") as scratch:
        upstream, upstream_url = start(context, run_upstream, ())
        policy_path = write_policy(Path(scratch), upstream_url)
        if args.threads is not None:
            os.environ["ROUTER_ENCODER_THREADS"] = str(args.threads)  # the children inherit
        classifiers = {}
        try:
            for encoder in args.encoders:
                models_dir, classifiers[encoder] = classifier(Path(scratch), encoder)
                service_args = (str(models_dir), str(policy_path), encoder)
                services[encoder] = start(context, run_service, service_args)
            for _, url in services.values():
                wait_ready(url)
            print(header(args, classifiers, upstream_url, services))
            urls = {encoder: (url, process.pid) for encoder, (process, url) in services.items()}
            results, decision_means = asyncio.run(measure(args, upstream_url, urls))
            print_table(results)
            print_verdict(results, decision_means)
        finally:
            for process in [*(p for p, _ in services.values()), upstream]:
                process.terminate()
                process.join(10)
    return 0


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Latency the router adds to an upstream call.")
    parser.add_argument("--requests-c1", type=int, default=300, help="per path, one at a time")
    parser.add_argument("--requests-cn", type=int, default=2000, help="per path, concurrently")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="the services' encoder threads; default: the settings' (ROUTER_ENCODER_THREADS)",
    )
    parser.add_argument(
        "--encoder",
        default="onnx,torch",
        help="one service per encoder: onnx (the int8 export), torch, hashing (test stand-in)",
    )
    args = parser.parse_args(argv)
    args.encoders = [name.strip() for name in args.encoder.split(",") if name.strip()]
    unknown = set(args.encoders) - {"onnx", "torch", "hashing"}
    if unknown or not args.encoders:
        parser.error(f"--encoder takes onnx, torch and/or hashing, not {sorted(unknown)}")
    return args


if __name__ == "__main__":
    sys.exit(main())
