"""A fleet follows a policy change: two ``router serve`` processes sharing one Redis."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from router.settings import SHIPPED_POLICY
from tests.redis_fixtures import RedisServer, free_port

TOKEN = "fleet-admin-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
START_TIMEOUT_S = 240.0
PROJECT = Path(__file__).resolve().parents[3]


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    url: str
    log: Path


def serve(tmp_path: Path, name: str, redis_url: str, policy: Path) -> Replica:
    port = free_port()
    data_dir = tmp_path / name
    data_dir.mkdir()
    env = os.environ | {
        "ROUTER_REDIS_URL": redis_url,
        "ROUTER_ADMIN_TOKEN": TOKEN,
        "ROUTER_DATA_DIR": str(data_dir),
        "ROUTER_POLICY_PATH": str(policy),
        "ROUTER_PORT": str(port),
        "ROUTER_RELOAD_INTERVAL_S": "0",
        "ROUTER_LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(PROJECT),
    }
    # `router serve` of this checkout (the venv's `router` script may be another's install)
    command = [sys.executable, "-m", "router.cli", "serve"]
    log = data_dir / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, cwd=PROJECT, stdout=output, stderr=output)
    return Replica(process, f"http://127.0.0.1:{port}", log)


def wait_ready(replica: Replica) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if replica.process.poll() is not None:
            tail = replica.log.read_text(errors="replace")[-2000:]
            pytest.fail(f"router serve exited with {replica.process.returncode}:\n{tail}")
        try:
            if httpx.get(f"{replica.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"router serve at {replica.url} was not ready in {START_TIMEOUT_S} s")


def serving_version(url: str) -> str:
    return str(httpx.get(f"{url}/readyz", timeout=2).json()["policy_version"])


@pytest.fixture
def fleet(tmp_path: Path, redis_server: RedisServer) -> Iterator[list[str]]:
    policy = tmp_path / "policy.yaml"
    shutil.copy(SHIPPED_POLICY, policy)
    replicas = [serve(tmp_path, name, redis_server.url, policy) for name in ("a", "b")]
    try:
        for replica in replicas:
            wait_ready(replica)
        yield [replica.url for replica in replicas]
    finally:
        for replica in replicas:
            replica.process.terminate()
        for replica in replicas:
            try:
                replica.process.wait(15)
            except subprocess.TimeoutExpired:
                replica.process.kill()


@pytest.mark.slow
def test_two_replicas_serve_an_applied_policy_within_a_second(fleet: list[str]) -> None:
    first, second = fleet
    current = httpx.get(f"{first}/admin/policy", headers=AUTH, timeout=10)
    data = yaml.safe_load(current.json()["yaml"]) | {"version": "fleet-2"}
    # move the first edge; the second tier still ends where the third begins
    data["tiers"][0]["band"] = [0.0, 0.25]
    data["tiers"][1]["band"] = [0.25, data["tiers"][2]["band"][0]]

    applied = httpx.put(
        f"{first}/admin/policy",
        json={"policy": yaml.safe_dump(data), "reason": "fleet test"},
        headers=AUTH | {"If-Match": current.headers["etag"]},
        timeout=10,
    )
    done = time.monotonic()
    assert applied.status_code == 200, applied.text
    seen = {}
    while len(seen) < 2 and time.monotonic() - done < 5:
        for url in (first, second):
            if url not in seen and serving_version(url) == "fleet-2":
                seen[url] = time.monotonic() - done
        time.sleep(0.01)

    print(f"\nreplicas serving fleet-2 after the apply: {seen}")
    assert set(seen) == {first, second}
    assert max(seen.values()) < 1.0
    routed = httpx.post(f"{second}/v1/route", json={"text": "hello there"}, timeout=30)
    assert routed.json()["policy_version"] == "fleet-2"
    history = httpx.get(f"{second}/admin/policy/history", headers=AUTH, timeout=10).json()
    assert history["entries"][0]["reason"] == "fleet test", "the audit lives in the shared Redis"
