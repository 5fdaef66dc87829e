"""Hot reload across replicas: a version announced on Redis reaches every running service."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from classifiers.artifacts.versions import write_current
from classifiers.encoder import HashingEncoder
from router.cli.deps import CliDeps
from router.cli.main import app
from router.errors import ReloadAnnounceError
from router.service.app import create_app
from router.service.reload_bus import announce_reload, reload_channel
from router.settings import Settings
from tests.redis_fixtures import RedisServer
from tests.router.service.api.conftest import (
    CLASSIFIER_VERSION,
    DIMENSION,
    EASY,
    policy_data,
    publish_classifier,
    user,
)
from tests.upstream_server import UpstreamServer
from tests.waiting import wait_until

PREFIX = "replicas"


def serving_version(client: TestClient) -> str:
    response = client.post("/v1/route", json={"model": "auto", "messages": user(EASY)})
    assert response.status_code == 200, response.text
    return str(response.json()["classifier_version"])


# Replicas poll once an hour here, so a reload within this long was announced, not polled for;
# the margin is for a loaded machine.
HEARD_WITHIN_S = 10.0


@pytest.fixture
def replicas(
    tmp_path: Path,
    models_dir: Path,
    redis_server: RedisServer,
    upstream: UpstreamServer,
    write_policy: Callable[[Mapping[str, Any]], Path],
) -> Any:
    """Two started services on one models dir that poll CURRENT only hourly."""
    settings = Settings(
        models_dir=models_dir,
        policy_path=write_policy(policy_data(upstream.url)),
        data_dir=tmp_path,
        redis_url=redis_server.url,
        redis_prefix=PREFIX,
        reload_interval_s=3600,
        open_access=True,
    )
    with ExitStack() as stack:
        clients = [
            stack.enter_context(
                TestClient(create_app(settings, encoder_loader=lambda _: HashingEncoder(DIMENSION)))
            )
            for _ in range(2)
        ]
        listeners = redis_server.client()
        channel = reload_channel(PREFIX)
        wait_until(lambda: listeners.pubsub_numsub(channel)[0][1] == 2, what="both listening")
        yield settings, clients


def test_an_announced_version_is_served_by_every_replica_within_a_second(replicas: Any) -> None:
    settings, clients = replicas
    publish_classifier(settings.models_dir, "v2")  # CURRENT -> v2, which no replica polls for
    assert [serving_version(c) for c in clients] == [CLASSIFIER_VERSION] * 2

    heard = announce_reload(settings, "v2")

    assert heard == 2
    wait_until(lambda: [serving_version(c) for c in clients] == ["v2"] * 2, HEARD_WITHIN_S)


def test_promote_and_rollback_announce_the_new_current(replicas: Any) -> None:
    settings, clients = replicas
    publish_classifier(settings.models_dir, "v2")
    write_current(settings.models_dir, CLASSIFIER_VERSION)
    runner = CliRunner()
    deps = CliDeps(settings=lambda: settings)

    promoted = runner.invoke(app, ["models", "promote", "v2"], obj=deps)

    assert promoted.exit_code == 0, promoted.output
    assert "announced v2 to 2 running services" in promoted.output
    wait_until(lambda: [serving_version(c) for c in clients] == ["v2"] * 2, HEARD_WITHIN_S)

    rolled_back = runner.invoke(app, ["models", "rollback"], obj=deps)

    assert rolled_back.exit_code == 0, rolled_back.output
    wait_until(
        lambda: [serving_version(c) for c in clients] == [CLASSIFIER_VERSION] * 2, HEARD_WITHIN_S
    )


def test_an_unreachable_redis_is_a_reload_announce_error(
    tmp_path: Path, models_dir: Path, redis_server: RedisServer
) -> None:
    redis_server.kill()
    settings = Settings(models_dir=models_dir, data_dir=tmp_path, redis_url=redis_server.url)

    with pytest.raises(ReloadAnnounceError, match="announcing v2 on router:reload"):
        announce_reload(settings, "v2")
