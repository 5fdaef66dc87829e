"""The policy table: which model, thinking budget and strategy each band of scores gets.

Ops own the table; it is a YAML file (``router/policies/default.yaml`` by default)::

    version: "2026-11-29.1"          # shown in decision headers
    tiers:                           # cheapest first
      - name: fast
        band: [0.0, 0.25]            # scores this tier serves
        model: openai/gpt-6-luna     # litellm model id
        api_base: null               # optional, http(s) URL
        api_key_env: OPENAI_API_KEY  # the NAME of the variable holding the key, never the key
        budget: {effort: none, max_tokens: 4096}
        reasoning: null              # optional: how the model takes a budget (decision.budgets)
        strategy: {samples: 1, select: first}
        fallbacks: [anthropic/claude-haiku-5-5]
        timeout_s: 30
        price: {input_per_mtok: 0.1, output_per_mtok: 0.4}   # optional, USD per million tokens

``reasoning`` names how the model is told its thinking budget (``openai_effort``,
``anthropic_thinking``, ``gemini_budget``, ``gemini_level``, ``chat_template`` or ``none``); unset,
it is recognised from the model id. A self-hosted model reached as ``openai/<served name>`` needs
it: its id says nothing about its chat template. A budget that asks for thinking from a model with
no control still loads (the call goes out with ``max_tokens`` only), but ``Policy.warnings`` names
it, and ``router policy validate`` shows it; ``reasoning: none`` says that is meant.

``price`` is for a model litellm has no price for (a self-hosted one) or whose bundled price is
out of date; without it litellm's price map prices the answers, and a model it does not know
costs 0 in the log and the metrics. Fallbacks keep litellm's price, unless they are some tier's
model too.

Bands are listed in order, touch end to start and cover [0, 1] exactly. A score on a boundary
goes to the higher tier, so every band is half-open ``[low, high)`` except the last, which
also takes 1.0.

Every problem with a file is a ``PolicyError`` naming the file, the tier and the field
(``router.decision.policy_file.load_policy`` reads one). Nothing here does I/O;
``Policy.choose`` is on the request path and does one bisection over a precomputed tuple.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from datetime import date
from itertools import pairwise
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from records import Budget, Price, Strategy
from router.decision.budgets import ReasoningControl, control_of, steers
from router.decision.spend_caps import SpendCap
from router.decision.verifier_specs import BUILT_IN_VERIFIERS, FinalAnswerSpec, VerifierSpec
from router.errors import UnknownModelError

__all__ = ["Policy", "Tier", "TierProblem"]

RESERVED_TIER_NAMES = frozenset({"auto"})

_TIER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Tier(BaseModel):
    """One row of the table: the model, budget and strategy for the scores in ``band``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    band: tuple[float, float]
    model: str
    api_base: str | None = None
    api_key_env: str | None = None
    budget: Budget
    reasoning: ReasoningControl | None = None
    strategy: Strategy = Strategy(samples=1, select="first")
    fallbacks: tuple[str, ...] = ()
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    price: Price | None = None

    @field_validator("name")
    @classmethod
    def _usable_name(cls, name: str) -> str:
        if name in RESERVED_TIER_NAMES:
            raise ValueError(f"'{name}' is reserved: clients send it to ask for routing")
        if not _TIER_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a usable name: use letters, digits, '.', '_', '-'")
        return name

    @field_validator("band")
    @classmethod
    def _usable_band(cls, band: tuple[float, float]) -> tuple[float, float]:
        low, high = band
        if not (0.0 <= low <= 1.0 and 0.0 <= high <= 1.0):
            raise ValueError(f"band {_pair(band)} leaves [0, 1]")
        if low >= high:
            raise ValueError(f"band {_pair(band)} is empty: its low end must be below its high end")
        return band

    @field_validator("model")
    @classmethod
    def _usable_model(cls, model: str) -> str:
        return _model_id(model)

    @field_validator("api_base")
    @classmethod
    def _http_url(cls, api_base: str | None) -> str | None:
        if api_base is not None and not api_base.startswith(("http://", "https://")):
            raise ValueError(f"{api_base!r} is not an http:// or https:// URL")
        return api_base

    @field_validator("api_key_env")
    @classmethod
    def _variable_name(cls, name: str | None) -> str | None:
        # The value is never echoed: if it is a key pasted in by mistake, it stays out of logs.
        if name is not None and not _ENV_NAME.fullmatch(name):
            raise ValueError(
                "must be the name of an environment variable (like OPENAI_API_KEY), not a key"
            )
        return name

    @field_validator("fallbacks")
    @classmethod
    def _usable_fallbacks(cls, fallbacks: tuple[str, ...]) -> tuple[str, ...]:
        for fallback in fallbacks:
            _model_id(fallback)
        if len(set(fallbacks)) != len(fallbacks):
            raise ValueError("lists a model twice")
        return fallbacks

    @model_validator(mode="after")
    def _fallbacks_differ(self) -> Tier:
        if self.model in self.fallbacks:
            raise TierProblem(self.name, "fallbacks", f"lists the tier's own model {self.model}")
        return self

    @property
    def control(self) -> ReasoningControl:
        """How the tier's model is told its budget: ``reasoning``, else recognised from its id."""
        return control_of(self.model, self.reasoning)

    def unsteered(self) -> str | None:
        """Why the tier's budget cannot reach its model, or None when it can (or is meant not
        to: ``reasoning: none``). The call still goes out, with ``max_tokens`` only."""
        if self.reasoning is not None or steers(self.control, self.budget):
            return None
        return (
            f"tier '{self.name}': budget {self.budget.label()} asks for thinking, but model"
            f" {self.model} has no reasoning control the router recognises from its id, so only"
            " max_tokens is sent: set `reasoning` to how it takes one"
            f" ({', '.join(c for c in ReasoningControl if c is not ReasoningControl.NONE)}),"
            " or `reasoning: none` if that is meant"
        )


class Policy(BaseModel):
    """The ordered tiers, and the lookups the request path needs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(min_length=1)
    verifiers: dict[str, VerifierSpec] = Field(default_factory=dict)
    spend_caps: tuple[SpendCap, ...] = ()
    tiers: tuple[Tier, ...]

    _starts: tuple[float, ...] = PrivateAttr(default=())
    _by_name: dict[str, Tier] = PrivateAttr(default_factory=dict)
    _index: dict[str, int] = PrivateAttr(default_factory=dict)
    _by_model: dict[str, Tier] = PrivateAttr(default_factory=dict)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, version: object) -> object:
        # YAML reads `version: 2026-11-29` as a date and `version: 3` as an int; both are lossless.
        if isinstance(version, date | int) and not isinstance(version, bool):
            return str(version)
        if isinstance(version, float):
            raise ValueError(f"{version!r} was read as a number: quote the version")
        return version

    @model_validator(mode="after")
    def _tiers_cover_scores(self) -> Policy:
        if not self.tiers:
            raise TierProblem(None, "tiers", "no tiers: a policy needs tiers covering [0, 1]")
        _check_unique_names(self.tiers)
        _check_order(self.tiers)
        _check_coverage(self.tiers)
        _check_strategies(self.tiers, self.verifiers)
        windows = [cap.window for cap in self.spend_caps]
        if len(set(windows)) != len(windows):
            raise TierProblem(None, "spend_caps", "a window is capped twice: one cap per window")
        return self

    def model_post_init(self, context: Any, /) -> None:
        self._starts = tuple(tier.band[0] for tier in self.tiers)
        self._by_name = {tier.name: tier for tier in self.tiers}
        self._index = {tier.name: index for index, tier in enumerate(self.tiers)}
        self._by_model = {}
        for tier in self.tiers:
            self._by_model.setdefault(tier.model, tier)

    def choose(self, score: float) -> Tier:
        """The tier whose band holds ``score``; a boundary belongs to the higher tier."""
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"score {score!r} is outside [0, 1]")
        return self.tiers[bisect_right(self._starts, score) - 1]

    def tier(self, name: str) -> Tier:
        """The tier called ``name``; ``UnknownModelError`` (404) if there is none."""
        found = self._by_name.get(name)
        if found is None:
            raise UnknownModelError(
                f"no tier named {name!r}; tiers: {', '.join(self._by_name)}", param="model"
            )
        return found

    def index(self, tier: Tier) -> int:
        """``tier``'s position in the table, 0 for the cheapest."""
        return self._index[tier.name]

    def tier_for_model(self, model: str) -> Tier:
        """The cheapest tier whose primary model is ``model``; ``UnknownModelError`` if none."""
        found = self._by_model.get(model)
        if found is None:
            raise UnknownModelError(
                f"no tier uses model {model!r}; models: {', '.join(self._by_model)}",
                param="model",
            )
        return found

    def verifier_spec(self, name: str) -> VerifierSpec:
        """The verifier declared as ``name``, else the built-in one of that name."""
        spec = self.verifiers.get(name) or BUILT_IN_VERIFIERS.get(name)
        if spec is None:
            raise KeyError(name)
        return spec

    def next_tier(self, tier: Tier) -> Tier | None:
        """The tier above ``tier``; None for the top one."""
        index = self._index[tier.name] + 1
        return self.tiers[index] if index < len(self.tiers) else None

    def warnings(self) -> list[str]:
        """What loads but probably is not what ops meant: budgets their models cannot take."""
        return [problem for tier in self.tiers if (problem := tier.unsteered()) is not None]

    def band_text(self, tier: Tier) -> str:
        """``tier``'s band as the interval it serves, e.g. ``[0.6, 0.85)`` or ``[0.85, 1]``."""
        close = "]" if tier.name == self.tiers[-1].name else ")"
        return f"[{tier.band[0]:g}, {tier.band[1]:g}{close}"


class TierProblem(ValueError):
    """A validation problem that knows its tier and field, for a precise ``PolicyError``."""

    def __init__(self, tier: str | None, field: str, problem: str) -> None:
        where = f"tier '{tier}': {field}" if tier is not None else field
        super().__init__(f"{where}: {problem}")
        self.tier = tier
        self.field = field
        self.problem = problem


def _model_id(model: str) -> str:
    if not model or any(char.isspace() for char in model):
        raise ValueError(f"{model!r} is not a litellm model id like 'openai/gpt-6-luna'")
    return model


def _pair(band: Sequence[float]) -> str:
    return f"[{band[0]:g}, {band[1]:g}]"


def _check_unique_names(tiers: Sequence[Tier]) -> None:
    seen: set[str] = set()
    for tier in tiers:
        if tier.name in seen:
            raise TierProblem(tier.name, "name", "duplicate tier name")
        seen.add(tier.name)


def _check_order(tiers: Sequence[Tier]) -> None:
    for previous, tier in pairwise(tiers):
        if tier.band[0] < previous.band[0]:
            raise TierProblem(
                tier.name,
                "band",
                f"band {_pair(tier.band)} is listed after tier '{previous.name}' "
                f"{_pair(previous.band)} but starts below it: list tiers in band order, "
                "cheapest first",
            )


def _check_coverage(tiers: Sequence[Tier]) -> None:
    first, last = tiers[0], tiers[-1]
    if first.band[0] != 0.0:
        raise TierProblem(
            first.name,
            "band",
            f"scores in [0, {first.band[0]:g}) have no tier: the first band must start at 0",
        )
    for previous, tier in pairwise(tiers):
        _check_adjacent(previous, tier)
    if last.band[1] != 1.0:
        raise TierProblem(
            last.name,
            "band",
            f"scores in ({last.band[1]:g}, 1] have no tier: the last band must end at 1",
        )


def _check_adjacent(previous: Tier, tier: Tier) -> None:
    end, start = previous.band[1], tier.band[0]
    if start < end:
        raise TierProblem(
            tier.name,
            "band",
            f"band {_pair(tier.band)} overlaps tier '{previous.name}' {_pair(previous.band)} "
            f"on [{start:g}, {min(end, tier.band[1]):g}): it must start at {end:g}",
        )
    if start > end:
        raise TierProblem(
            tier.name,
            "band",
            f"scores in [{end:g}, {start:g}) have no tier: band {_pair(tier.band)} "
            f"must start where tier '{previous.name}' ends ({end:g})",
        )


def _check_strategies(tiers: Sequence[Tier], declared: Mapping[str, VerifierSpec]) -> None:
    for tier in tiers:
        name = tier.strategy.verifier
        if name is None:
            continue
        spec = declared.get(name) or BUILT_IN_VERIFIERS.get(name)
        if spec is None:
            known = ", ".join([*declared, *BUILT_IN_VERIFIERS])
            raise TierProblem(
                tier.name, "strategy.verifier", f"no verifier named {name!r} (known: {known})"
            )
        if isinstance(spec, FinalAnswerSpec) and tier.strategy.samples < 2:
            raise TierProblem(
                tier.name,
                "strategy.samples",
                f"verifier {name!r} checks that samples agree: it needs samples >= 2",
            )
    if tiers[-1].strategy.cascade:
        raise TierProblem(
            tiers[-1].name, "strategy.cascade", "the top tier has no tier to escalate to"
        )
