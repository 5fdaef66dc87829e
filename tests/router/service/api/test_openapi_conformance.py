"""Schemathesis over the whole OpenAPI schema of a live service: every documented operation,
schema-valid and invalid requests, every check (server errors, undocumented statuses, content
types and headers, response schemas, acceptance of valid and rejection of invalid data)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from classifiers.encoder import HashingEncoder
from router.service.app import create_app
from router.settings import Settings
from tests.router.service.api.conftest import (
    DIMENSION,
    KEY,
    KEY_ENV,
    ListSink,
    policy_data,
    publish_classifier,
)
from tests.router.service.api.live import serving
from tests.upstream_server import running_upstream

EXAMPLES = 40


@pytest.fixture(scope="module")
def service_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import os

    import yaml

    root: Path = tmp_path_factory.mktemp("conformance")
    publish_classifier(root / "models")
    previous = os.environ.get(KEY_ENV)
    os.environ[KEY_ENV] = KEY
    try:
        with running_upstream() as upstream:
            policy = root / "policy.yaml"
            policy.write_text(yaml.safe_dump(policy_data(upstream.url)), encoding="utf-8")
            config = Settings(
                models_dir=root / "models",
                policy_path=policy,
                data_dir=root / "var",
                upstream_retries=0,
                reload_interval_s=0,
            )
            app = create_app(
                config, encoder_loader=lambda _: HashingEncoder(DIMENSION), sink=ListSink()
            )
            with serving(app) as url:
                yield url
    finally:
        if previous is None:
            os.environ.pop(KEY_ENV, None)
        else:
            os.environ[KEY_ENV] = previous


@pytest.fixture(scope="module")
def api_schema(service_url: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{service_url}/openapi.json")


@schemathesis.check
def valid_data_accepted_unless_nothing_to_score(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """Schemathesis' positive_data_acceptance, less one exception JSON Schema cannot express:
    a conversation whose turns hold no text to score (empty or whitespace) is a 400."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 400:
        return None
    code = response.json().get("error", {}).get("code")
    if code != "EmptyPromptError":
        raise AssertionError(f"schema-valid request rejected with 400 {code}: {response.text}")
    return None


def test_the_service_matches_its_openapi_schema(api_schema: schemathesis.BaseSchema) -> None:
    failures: list[str] = []
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(
                excluded_checks=[positive_data_acceptance],
                additional_checks=[valid_data_accepted_unless_nothing_to_score],
            )

        try:
            check()
        except BaseException as exc:  # every operation is checked; failures listed at the end
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
