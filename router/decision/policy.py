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

String values may use ``${NAME}`` or ``${NAME:-default}`` (the default also replaces an empty
value); an unset variable without a default is an error naming it. There is no escape for a
literal ``${``.

Every problem with a file is a ``PolicyError`` naming the file, the tier and the field.
``load_policy`` is the only function here that does I/O; ``Policy.choose`` is on the request
path and does one bisection over a precomputed tuple.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_right
from collections.abc import Hashable, Mapping, Sequence
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from records import Budget, Price, Strategy
from router.decision.budgets import ReasoningControl, control_of, steers
from router.errors import PolicyError, UnknownModelError

__all__ = ["Policy", "Tier", "load_policy"]

RESERVED_TIER_NAMES = frozenset({"auto"})

_TIER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

Loc = tuple[str | int, ...]


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
            raise _TierProblem(self.name, "fallbacks", f"lists the tier's own model {self.model}")
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
            raise _TierProblem(None, "tiers", "no tiers: a policy needs tiers covering [0, 1]")
        _check_unique_names(self.tiers)
        _check_order(self.tiers)
        _check_coverage(self.tiers)
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

    def warnings(self) -> list[str]:
        """What loads but probably is not what ops meant: budgets their models cannot take."""
        return [problem for tier in self.tiers if (problem := tier.unsteered()) is not None]

    def band_text(self, tier: Tier) -> str:
        """``tier``'s band as the interval it serves, e.g. ``[0.6, 0.85)`` or ``[0.85, 1]``."""
        close = "]" if tier.name == self.tiers[-1].name else ")"
        return f"[{tier.band[0]:g}, {tier.band[1]:g}{close}"


class _TierProblem(ValueError):
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
            raise _TierProblem(tier.name, "name", "duplicate tier name")
        seen.add(tier.name)


def _check_order(tiers: Sequence[Tier]) -> None:
    for previous, tier in pairwise(tiers):
        if tier.band[0] < previous.band[0]:
            raise _TierProblem(
                tier.name,
                "band",
                f"band {_pair(tier.band)} is listed after tier '{previous.name}' "
                f"{_pair(previous.band)} but starts below it: list tiers in band order, "
                "cheapest first",
            )


def _check_coverage(tiers: Sequence[Tier]) -> None:
    first, last = tiers[0], tiers[-1]
    if first.band[0] != 0.0:
        raise _TierProblem(
            first.name,
            "band",
            f"scores in [0, {first.band[0]:g}) have no tier: the first band must start at 0",
        )
    for previous, tier in pairwise(tiers):
        _check_adjacent(previous, tier)
    if last.band[1] != 1.0:
        raise _TierProblem(
            last.name,
            "band",
            f"scores in ({last.band[1]:g}, 1] have no tier: the last band must end at 1",
        )


def _check_adjacent(previous: Tier, tier: Tier) -> None:
    end, start = previous.band[1], tier.band[0]
    if start < end:
        raise _TierProblem(
            tier.name,
            "band",
            f"band {_pair(tier.band)} overlaps tier '{previous.name}' {_pair(previous.band)} "
            f"on [{start:g}, {min(end, tier.band[1]):g}): it must start at {end:g}",
        )
    if start > end:
        raise _TierProblem(
            tier.name,
            "band",
            f"scores in [{end:g}, {start:g}) have no tier: band {_pair(tier.band)} "
            f"must start where tier '{previous.name}' ends ({end:g})",
        )


# --- loading --------------------------------------------------------------------------------


def load_policy(path: Path | str, env: Mapping[str, str] | None = None) -> Policy:
    """Read, substitute and validate the policy at ``path``; ``env`` defaults to ``os.environ``."""
    source = Path(path)
    raw = _read_yaml(source)
    _refuse_inline_keys(source, raw)
    data = _substitute(source, raw, raw, (), os.environ if env is None else env)
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise _policy_error(source, data, exc) from exc


class _StrictLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses a key written twice in one mapping (PyYAML keeps the last)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Hashable] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, Hashable) and key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        if isinstance(key, Hashable):
            seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(source: Path) -> dict[str, Any]:
    try:
        text = source.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise PolicyError(source, "file not found") from exc
    except UnicodeDecodeError as exc:
        raise PolicyError(source, f"not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise PolicyError(source, f"cannot read: {exc.strerror}") from exc
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        raise PolicyError(source, _yaml_problem(exc)) from exc
    except yaml.YAMLError as exc:
        raise PolicyError(source, f"invalid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise PolicyError(source, "expected a mapping with 'version' and 'tiers'")
    return raw


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = "" if mark is None else f" at line {mark.line + 1}, column {mark.column + 1}"
    return f"invalid YAML{where}: {exc.problem or exc.context}"


def _refuse_inline_keys(source: Path, raw: Mapping[str, Any]) -> None:
    tiers = raw.get("tiers")
    if not isinstance(tiers, list):
        return
    for index, tier in enumerate(tiers):
        if not isinstance(tier, dict):
            continue
        if "api_key" in tier:
            raise PolicyError(
                source,
                "keys must not be written in the policy: put the key in an environment "
                "variable and name that variable in api_key_env",
                tier=_tier_label(raw, index),
                field="api_key",
            )
        if "${" in str(tier.get("api_key_env", "")):
            raise PolicyError(
                source,
                "write the variable's name (like OPENAI_API_KEY), not ${...}: "
                "the key itself must never pass through the policy",
                tier=_tier_label(raw, index),
                field="api_key_env",
            )


def _substitute(
    source: Path, raw: Mapping[str, Any], value: Any, loc: Loc, env: Mapping[str, str]
) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(source, raw, v, (*loc, k), env) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(source, raw, v, (*loc, i), env) for i, v in enumerate(value)]
    if isinstance(value, str) and "${" in value:
        return _substitute_text(source, raw, value, loc, env)
    return value


def _substitute_text(
    source: Path, raw: Mapping[str, Any], text: str, loc: Loc, env: Mapping[str, str]
) -> str:
    def fail(problem: str) -> PolicyError:
        tier, field = _locate(raw, loc)
        return PolicyError(source, problem, tier=tier, field=field)

    if "${" in _ENV_REF.sub("", text):
        raise fail(f"malformed reference in {text!r}: write ${{NAME}} or ${{NAME:-default}}")

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value:
            return value
        if default is not None:
            return default
        if value is None:
            raise fail(
                f"environment variable {name} is not set (write ${{{name}:-default}} for a default)"
            )
        return value

    return _ENV_REF.sub(replace, text)


def _policy_error(source: Path, data: Mapping[str, Any], exc: ValidationError) -> PolicyError:
    errors = exc.errors(include_url=False)
    first = errors[0]
    more = "" if len(errors) == 1 else f" (and {len(errors) - 1} more problem(s))"
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, _TierProblem):
        return PolicyError(source, cause.problem + more, tier=cause.tier, field=cause.field)
    tier, field = _locate(data, first["loc"])
    return PolicyError(source, _describe(first) + more, tier=tier, field=field)


def _locate(raw: Mapping[str, Any], loc: Loc) -> tuple[str | None, str | None]:
    """(tier label, dotted field path) for a location in the policy data."""
    if len(loc) >= 2 and loc[0] == "tiers" and isinstance(loc[1], int):
        return _tier_label(raw, loc[1]), _field_path(loc[2:])
    return None, _field_path(loc)


def _tier_label(raw: Mapping[str, Any], index: int) -> str:
    tiers = raw.get("tiers")
    tier = tiers[index] if isinstance(tiers, list) and index < len(tiers) else None
    name = tier.get("name") if isinstance(tier, dict) else None
    return name if isinstance(name, str) and name else f"#{index + 1}"


def _field_path(loc: Loc) -> str | None:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path.lstrip(".") or None


def _describe(error: ErrorDetails) -> str:
    loc = error["loc"]
    if error["type"] == "extra_forbidden":
        return f"unknown key (known keys: {', '.join(_known_keys(loc[:-1]))})"
    if error["type"] == "missing":
        return "required key is missing"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "value_error" or ", not " in message or "api_key_env" in loc:
        return message
    shown = repr(error["input"])
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{message.replace('Input should be', 'must be', 1)}, not {shown}"


def _known_keys(parent: Loc) -> list[str]:
    model: type[BaseModel] = Policy
    if len(parent) >= 2 and parent[0] == "tiers":
        model = Tier
    if len(parent) >= 3 and parent[2] == "budget":
        model = Budget
    if len(parent) >= 3 and parent[2] == "strategy":
        model = Strategy
    return list(model.model_fields)
