"""The contract between serving and training: what was decided, and what came of it.

``Decision`` is what the decider chose; ``ScoredPrompt`` what the decision log keeps of the text it
scored (its hash, its embedding as float16 and its ten text features, so that retraining never
needs the text itself); ``DecisionRecord`` is one logged request; ``Feedback`` one later event
on it (an outcome, a rating, a verifier's verdict). ``ExportRow`` is one line of ``router logs
export``: the ``LoggedFields`` of a record and its ``FeedbackEvent``s, the only thing
``training.logs`` reads. In JSON an embedding is base64 of its float16 little-endian bytes.

    DecisionRecord(LoggedFields)  written by the service, kept by the stores
    ExportRow(LoggedFields)       written by the export, read by training
    Feedback(FeedbackEvent)       written by the feedback endpoint, kept by the stores
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

from classifiers.features import FEATURE_NAMES, text_features

Effort = Literal["none", "low", "medium", "high"]
Selection = Literal["first", "majority_vote", "verifier"]
FeedbackOutcome = Literal["success", "failure"]

EMBEDDING_DTYPE: Final = "<f2"  # float16, little-endian


class Budget(BaseModel):
    """A thinking budget: an effort level and/or a token budget, under an output ceiling."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    effort: Effort | None = None
    budget_tokens: int | None = Field(default=None, ge=0)
    max_tokens: int = Field(ge=1)
    min_tokens: int | None = Field(default=None, ge=0)
    """Set, the tier's budget is learned per prompt in [min_tokens, budget_tokens]
    (``router.decision.thinking``); budget_tokens is then the cap and the fallback."""

    @model_validator(mode="after")
    def _budget_under_ceiling(self) -> Budget:
        if self.min_tokens is not None and (
            self.budget_tokens is None or self.min_tokens > self.budget_tokens
        ):
            raise ValueError(
                "min_tokens needs budget_tokens at or above it: a learned budget lies in"
                " [min_tokens, budget_tokens]"
            )
        if self.budget_tokens is not None and self.budget_tokens >= self.max_tokens:
            raise ValueError(
                f"budget_tokens {self.budget_tokens} must be below max_tokens {self.max_tokens}"
                " so that the answer has room after the thinking"
            )
        return self

    def label(self) -> str:
        """Short form for headers and tables, e.g. ``high/8192/16384``."""
        effort = self.effort or "-"
        tokens = "-" if self.budget_tokens is None else str(self.budget_tokens)
        if self.min_tokens is not None:
            tokens = f"{self.min_tokens}..{tokens}"
        return f"{effort}/{tokens}/{self.max_tokens}"


class Price(BaseModel):
    """What a model's tokens cost, in USD per million: ops set it for a model litellm has no
    price for (a self-hosted one), or to replace litellm's bundled price."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_per_mtok: float = Field(ge=0.0, allow_inf_nan=False)
    output_per_mtok: float = Field(ge=0.0, allow_inf_nan=False)
    cached_input_per_mtok: float | None = Field(default=None, ge=0.0, allow_inf_nan=False)
    """Prompt tokens read from the provider's cache; unset, they cost as much as the others."""


class Strategy(BaseModel):
    """How a tier answers: ``samples`` calls, one answer chosen by ``select``; ``verifier``
    names the check (``select: verifier`` picks the first sample it passes); ``cascade`` sends
    the request on to the next tier when the verifier rejects this tier's answer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    samples: int = Field(default=1, ge=1, le=16)
    select: Selection = "majority_vote"
    verifier: str | None = Field(default=None, min_length=1)
    cascade: bool = False

    @model_validator(mode="after")
    def _verifier_named(self) -> Strategy:
        if self.select == "verifier" and self.verifier is None:
            raise ValueError("select: verifier needs `verifier`: the name of the check")
        if self.cascade and self.verifier is None:
            raise ValueError("cascade needs `verifier`: the check that decides to escalate")
        return self

    def label(self) -> str:
        """Short form for tables, e.g. ``3 x verifier(json-answer) cascade``."""
        select = self.select if self.select != "verifier" else f"verifier({self.verifier})"
        if self.cascade and self.select != "verifier":
            select += f" + verifier({self.verifier})"
        return f"{self.samples} x {select}" + (" cascade" if self.cascade else "")


class Forecast(BaseModel):
    """What a tier's answer is expected to cost and take, before the call.

    ``source`` is ``log`` when the tier has enough observed answers (quantiles of their tokens
    and latency), ``budget`` when it has not (tokens from the budget; latency unknown). Costs
    are None for a model without a known price; latencies None until some are observed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Literal["log", "budget"]
    observations: int = Field(ge=0)
    prompt_tokens: int = Field(ge=0)
    output_tokens_p50: int = Field(ge=0)
    output_tokens_p90: int = Field(ge=0)
    cost_usd_p50: float | None = Field(default=None, ge=0.0)
    cost_usd_p90: float | None = Field(default=None, ge=0.0)
    latency_ms_p50: float | None = Field(default=None, ge=0.0)
    latency_ms_p90: float | None = Field(default=None, ge=0.0)


class Decision(BaseModel):
    """Which model and budget a prompt gets, and why."""

    model_config = ConfigDict(frozen=True)

    score: float = Field(ge=0.0, le=1.0)
    tier: str
    model: str
    budget: Budget
    strategy: Strategy
    fallbacks: tuple[str, ...] = ()
    timeout_s: float
    classifier_version: str
    policy_version: str
    reasons: tuple[str, ...] = ()
    decision_ms: float = 0.0
    choice_probability: float = Field(default=1.0, gt=0.0, le=1.0)
    tier_index: int = Field(ge=0)
    forecast: Forecast | None = None
    control: str | None = None
    """How the tier's model was told its budget (``router.decision.budgets.ReasoningControl``)."""


def embedding_bytes(vector: Any) -> bytes:
    """``vector`` as the log stores it: float16, little-endian."""
    return np.asarray(vector, dtype=EMBEDDING_DTYPE).reshape(-1).tobytes()


def _embedding_from_text(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not base64: {exc}") from exc


def _float16_values(value: bytes) -> bytes:
    if not value or len(value) % 2:
        raise ValueError(f"holds {len(value)} bytes; float16 values take a positive even number")
    return value


def _embedding_text(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def encode_embedding(vector: Any) -> str:
    """``vector`` as an export row spells it: base64 of its float16 little-endian bytes."""
    return _embedding_text(embedding_bytes(vector))


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ten_features(values: tuple[float, ...]) -> tuple[float, ...]:
    if len(values) != len(FEATURE_NAMES):
        raise ValueError(
            f"has {len(values)} values; the text features are {len(FEATURE_NAMES)}:"
            f" {', '.join(FEATURE_NAMES)}"
        )
    return values


Embedding = Annotated[
    bytes,
    BeforeValidator(_embedding_from_text),
    AfterValidator(_float16_values),
    PlainSerializer(_embedding_text, return_type=str, when_used="json"),
]
"""float16 little-endian bytes; base64 text in JSON (and accepted as such)."""
UtcTime = Annotated[datetime, AfterValidator(_as_utc)]
"""A time in UTC; a naive time is taken to be UTC."""
TextFeatures = Annotated[tuple[float, ...], AfterValidator(_ten_features)]
"""``classifiers.features.text_features`` of the scored text, in ``FEATURE_NAMES`` order."""


@dataclass(frozen=True, slots=True)
class ScoredPrompt:
    """What the decision log keeps of a scored text: computed once, where it was scored."""

    text: str
    hash: str
    embedding: bytes
    features: tuple[float, ...]

    @classmethod
    def of(cls, text: str, vector: Any) -> ScoredPrompt:
        """``text`` with the embedding the scorer computed for it (never re-embedded)."""
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        return cls(text, digest, embedding_bytes(vector), tuple(text_features(text)))


_REQUEST_ID: Final = re.compile(r"req_([0-9a-f]{12})[0-9a-f]{20}")


def new_request_id() -> str:
    """``req_`` and 32 hex digits: the time in milliseconds (12), then 80 random bits."""
    return f"req_{int(time.time() * 1000):012x}{secrets.token_hex(10)}"


def request_age_s(request_id: str) -> float | None:
    """Seconds since ``request_id`` was made, or None for an id not made by ``new_request_id``."""
    match = _REQUEST_ID.fullmatch(request_id)
    return None if match is None else time.time() - int(match.group(1), 16) / 1000.0


class Step(BaseModel):
    """One tier's attempt in a cascade: what it cost and what the verifier said of it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tier: str
    model: str
    upstream_model: str | None = None
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    reasoning_tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0.0)
    upstream_ms: float | None = None
    verifier: str | None = None
    passed: bool | None = None
    """The verifier's verdict; None when the step failed before it answered."""
    detail: str | None = None
    status: str = "ok"


class LoggedFields(BaseModel):
    """What the log keeps of every decision and the export carries to training (see the two
    subclasses): the prompt's hash, embedding and features, the score and tier, what was
    called, what it cost, and how it ended.

    ``status`` is ``ok``, ``cancelled`` (the client left), ``internal_error``, or the error's
    class name (``UpstreamTimeoutError``...). ``prompt_hash`` is the sha256 of the scored text;
    ``prompt`` is that text itself, when the service keeps prompts (``store_prompt_text``).
    ``tier_index`` is the position of ``tier`` in the policy (0: the cheapest);
    ``choice_probability`` is how likely that tier was to be chosen, below 1 only when
    exploration was on (``router.decision.exploration``). Times are read as UTC. ``key_id`` is
    the id of the API key that made the request (``open`` when the service ran without keys,
    None in records from before keys); never the key itself.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: str
    key_id: str | None = None
    time: UtcTime
    prompt_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    prompt: str | None = None
    embedding: Embedding
    score: float = Field(ge=0.0, le=1.0)
    tier: str
    tier_index: int = Field(ge=0)
    model: str
    upstream_model: str | None = None
    choice_probability: float = Field(gt=0.0, le=1.0)
    classifier_version: str
    policy_version: str
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    reasoning_tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0.0)
    latency_ms: float = Field(ge=0.0)
    status: str
    control: str | None = None
    """How the model was told its budget: openai_effort, anthropic_thinking, ... (None: older
    records); ``router logs stats`` judges obedience by it."""
    downgrade: str | None = None
    """How spend near a cap lowered the request (``effort (day cap at 84%)``), if it did."""
    forecast: Forecast | None = None
    """What the decision predicted of the chosen tier, beside the observed tokens and cost."""
    steps: tuple[Step, ...] = ()
    """The cascade's attempts, in order (empty without one); the record's tokens and cost are
    their sums, and ``upstream_model`` the last step's."""


class DecisionRecord(LoggedFields):
    """One answered (or failed) chat request, as the service writes it: the logged fields plus
    what the request asked for and how the call was made. ``embedding`` and ``features`` are
    always kept."""

    features: TextFeatures
    requested_model: str
    stream: bool
    budget: Budget
    strategy: Strategy
    decision_ms: float
    upstream_ms: float | None = None
    vote: str | None = None


class Verifier(BaseModel):
    """A check that judged the answer: a test suite, a grader, a human reviewer."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=200)
    passed: bool


class FeedbackEvent(BaseModel):
    """What one piece of feedback says about an answer: an outcome, a rating and/or a
    verifier's verdict, and when. The export carries these; ``Feedback`` adds the ids."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    time: UtcTime
    outcome: FeedbackOutcome | None = None
    rating: float | None = Field(default=None, ge=-1.0, le=1.0)
    verifier: Verifier | None = None
    source: str | None = None
    step: int | None = Field(default=None, ge=0)
    """The cascade step it judges (an index into the record's ``steps``); None: the answer."""


class Feedback(FeedbackEvent):
    """One event on a logged request, as the log stores it.

    A request may get several; ``training.logs`` reduces them to one outcome. ``idempotency_key``
    is the client's ``Idempotency-Key``: the log stores one event per key.
    """

    id: str
    request_id: str
    idempotency_key: str | None = None

    def says_the_same_as(self, other: Feedback) -> bool:
        """Same request and same content, whatever the id and time."""
        fields = {"request_id", "outcome", "rating", "verifier", "source", "step"}
        return self.model_dump(include=fields) == other.model_dump(include=fields)


class ExportRow(LoggedFields):
    """One line of ``router logs export``: a decision's logged fields and its feedback events,
    oldest first. ``features`` may be null in a row that keeps its prompt (training then
    computes them from it); fields a later export adds are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    features: TextFeatures | None = None
    budget: Budget | None = None
    """The budget sent (None in exports written before it was exported)."""
    feedback: tuple[FeedbackEvent, ...] = ()


EXPORT_FIELDS: Final = frozenset(ExportRow.model_fields) - {"feedback"}
"""The fields of a ``DecisionRecord`` that an export row carries."""
FEEDBACK_FIELDS: Final = frozenset(FeedbackEvent.model_fields)
"""The fields of a ``Feedback`` that an export row carries."""
