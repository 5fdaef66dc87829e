"""The ops page at /ui in a real browser: Debian's chromium, headless, driven by Playwright.

It loads, shows the tiers, a band-edge slider changes the projected spend, and apply (with the
token) changes what ``/v1/route`` answers. ``ROUTER_UI_SCREENSHOT=docs/ops-ui.png`` also saves
a screenshot of the page (the README's).
"""

from __future__ import annotations

import os
import random
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.router.service.api.conftest import EASY, HARD, MakeApp, policy_data, user
from tests.router.service.api.live import serving
from tests.upstream_server import UpstreamServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
TOKEN = "ui-admin-token-0123456789abcdef"
PRICES = ((0.1, 0.4), (0.5, 2.0), (1.0, 4.0), (10.0, 40.0))
TIMEOUT_MS = 20_000
REQUESTS = 80
PROMPTS = (EASY, HARD, f"{EASY} {HARD}", "Say hi.", f"{HARD} Then {EASY}")


def priced_policy(url: str) -> dict[str, Any]:
    data = policy_data(url)
    for tier, (prompt, completion) in zip(data["tiers"], PRICES, strict=True):
        tier["price"] = {"input_per_mtok": prompt, "output_per_mtok": completion}
    return data


@pytest.fixture
def page() -> Iterator[Page]:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1240, "height": 1100})
        finally:
            browser.close()


def routed(base: str, text: str) -> dict[str, Any]:
    response = httpx.post(f"{base}/v1/route", json={"model": "auto", "text": text}, timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_ops_page_simulates_a_slider_move_and_applies_it(
    make_app: MakeApp, upstream: UpstreamServer, page: Page
) -> None:
    app = make_app(
        priced_policy(upstream.url), sink=None, rng=random.Random(5), admin_token=TOKEN,
        upstream_retries=0, exploration_rate=0.3,
    )  # fmt: skip
    with serving(app) as base, httpx.Client(base_url=base, timeout=10) as client:
        for i in range(REQUESTS):
            text = PROMPTS[i % len(PROMPTS)] + f" ({i})"
            answer = client.post(
                "/v1/chat/completions", json={"model": "auto", "messages": user(text)}
            )
            outcome = "failure" if i % 5 == 0 else "success"
            request_id = answer.headers["x-router-request-id"]
            client.post("/v1/feedback", json={"request_id": request_id, "outcome": outcome})
        assert routed(base, EASY)["tier"] == "fast"

        page.goto(f"{base}/ui")
        page.fill("#token", TOKEN)
        page.click("#connect")
        rows = page.locator("#policy-table tbody tr")
        expect(rows).to_have_count(4, timeout=TIMEOUT_MS)
        for name in ("fast", "qwen", "vote", "deep"):
            expect(page.locator(f"#policy-table tr[data-tier={name}]")).to_be_visible()
        spend = page.locator("#spend-candidate")
        expect(spend).not_to_have_text("-", timeout=TIMEOUT_MS)
        before = spend.inner_text()

        page.locator("#edge-0").fill("0.05")  # fast | qwen: easy prompts move up to qwen
        expect(spend).not_to_have_text(before, timeout=TIMEOUT_MS)
        expect(spend).to_have_text(re.compile(r"^\$\d"), timeout=TIMEOUT_MS)
        expect(page.locator("#edge-value-0")).to_have_text("0.050")
        if screenshot := os.environ.get("ROUTER_UI_SCREENSHOT"):
            page.screenshot(path=screenshot, full_page=True)

        page.fill("#reason", "ui test: easy prompts to qwen")
        page.click("#apply")
        expect(page.locator("#status")).to_contain_text("Applied", timeout=TIMEOUT_MS)
        decision = routed(base, EASY)
        assert decision["tier"] == "qwen"
        assert decision["policy_version"] == "api-policy-1-edited"
        expect(page.locator("#history li").first).to_contain_text("ui test")


def test_the_page_and_its_assets_are_served_without_a_token(make_app: MakeApp) -> None:
    with serving(make_app()) as base:
        page_html = httpx.get(f"{base}/ui")
        script = httpx.get(f"{base}/ui/app.js")
        missing = httpx.get(f"{base}/ui/secrets.txt")

    assert page_html.status_code == 200 and "<title>difficulty-router" in page_html.text
    assert 'src="/ui/app.js"' in page_html.text and "https://" not in page_html.text
    assert script.headers["content-type"].startswith("text/javascript")
    assert missing.status_code == 404
