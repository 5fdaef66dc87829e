"""Per-prompt thinking budgets learned from replayed traffic, end to end.

A simulated reasoning model (the local upstream) thinks as long as each prompt needs (four
families of prompts need about 300, 900, 2500 and 5500 tokens), never longer than the budget it
is sent; a prompt succeeds when it was not cut short, except that the "ponder" family
overthinks: past 3500 tokens it succeeds only 3 times in 10. Phase 1 serves 200 prompts at the
tier's fixed budget and sends each outcome back as feedback; ``router budgets fit`` learns from
the export; phase 2 serves 100 new prompts with the learned per-prompt budgets.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from router.cli.main import app as cli_app
from router.log.store.export import export_logs
from router.log.store.sqlite import SQLiteStore
from tests.router.service.api.conftest import MakeClient, tier, user
from tests.upstream_server import UpstreamServer

FIXED = 8000
FAMILIES = {
    "Add {n} and {m} and give the sum.": 300,
    "Sort these numbers ascending: {n}, {m}, {n}{m}, {m}{n}.": 900,
    "Prove that every group of order {n}{m} with a normal subgroup has a quotient.": 2500,
    "Ponder whether {n} philosophers at {m} tables can ever agree on anything.": 5500,
}
OVERTHINKING_AT = 3500


def prompts(start: int, count: int) -> list[str]:
    texts = []
    for n in range(start, start + count):
        for template in FAMILIES:
            texts.append(template.format(n=n, m=n * 7 % 97))
    return texts


def _hash(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16)


def need_of(text: str) -> int:
    base = next(
        need for template, need in FAMILIES.items() if text.split()[0] == template.split()[0]
    )
    return round(base * (0.85 + (_hash(text) % 31) / 100))  # 0.85x to 1.15x


def thought(text: str, budget: int) -> int:
    return min(need_of(text), budget)


def succeeded(text: str, used: int) -> bool:
    if text.startswith("Ponder"):
        return used <= OVERTHINKING_AT or _hash(text) % 10 < 3
    return used >= need_of(text)


def adaptive_policy(url: str) -> dict[str, Any]:
    budget = {"budget_tokens": FIXED, "min_tokens": 128, "max_tokens": 12000}
    return {
        "version": "thinking-1",
        "tiers": [
            tier(
                "deep", (0.0, 1.0), "openai/thinker", url, budget=budget, reasoning="chat_template"
            )
        ],
    }


def serve(client: Any, texts: list[str], feedback: bool) -> list[tuple[str, int, bool]]:
    """(prompt, budget sent, success) per prompt."""
    served = []
    for text in texts:
        response = client.post(
            "/v1/chat/completions", json={"model": "auto", "messages": user(text)}
        )
        assert response.status_code == 200, response.text
        used = response.json()["usage"]["completion_tokens_details"]["reasoning_tokens"]
        budget = int(response.headers["x-router-budget"].split("/")[1].split("..")[-1])
        ok = succeeded(text, used)
        served.append((text, budget, ok))
        if feedback:
            body = {
                "request_id": response.headers["x-router-request-id"],
                "outcome": "success" if ok else "failure",
            }
            assert client.post("/v1/feedback", json=body).status_code == 200
    return served


def test_per_prompt_budgets_cut_reasoning_tokens_sent_at_equal_success(
    make_client: MakeClient, upstream: UpstreamServer, tmp_path: Path
) -> None:
    def reasoning(body: dict[str, Any]) -> int:
        return thought(str(body["messages"][-1]["content"]), int(body["thinking_token_budget"]))

    upstream.script("thinker", reasoning=reasoning)
    data_dir = tmp_path / "data"
    policy = adaptive_policy(upstream.url)
    client = make_client(policy, sink=None, data_dir=data_dir)
    route = client.post("/v1/route", json={"text": prompts(0, 1)[0]}).json()
    assert any(
        r.endswith("no budget model covers it yet (router budgets fit --logs)")
        for r in route["reasons"]
    )

    logged = serve(client, prompts(0, 50), feedback=True)
    assert {budget for _, budget, _ in logged} == {FIXED}
    client.close()
    store = SQLiteStore(data_dir / "decisions.sqlite3")
    export_logs(store, tmp_path / "export.jsonl")
    store.close()
    fitted = CliRunner().invoke(
        cli_app,
        [
            "budgets",
            "fit",
            "--logs",
            str(tmp_path / "export.jsonl"),
            "--out",
            str(data_dir / "budget-model.json"),
        ],
    )
    assert fitted.exit_code == 0, fitted.output

    replay = prompts(1000, 25)
    adaptive = serve(make_client(policy, sink=None, data_dir=data_dir), replay, feedback=False)

    fixed_success = sum(succeeded(text, thought(text, FIXED)) for text in replay) / len(replay)
    adaptive_success = sum(ok for _, _, ok in adaptive) / len(adaptive)
    sent = sum(budget for _, budget, _ in adaptive)
    cut = 1 - sent / (FIXED * len(replay))
    print(
        f"budget tokens sent: {sent} against {FIXED * len(replay)} fixed ({cut:.0%} fewer);"
        f" success {adaptive_success:.1%} against {fixed_success:.1%} fixed"
    )
    assert cut >= 0.40
    assert adaptive_success >= fixed_success
    assert "sweet spot" in fitted.stdout
    row = next(line for line in fitted.stdout.splitlines() if line.startswith("deep"))
    sweet = row.split()[-1]
    print(f"sweet spot found at {sweet} reasoning tokens")
    assert 2500 <= int(sweet) < 5500 * 0.85  # past the proofs' needs, before the overthinking
