"""Reading a policy file: YAML (a key written twice is an error), ``${NAME}`` substitution from
the environment, then ``Policy`` validation, with every problem a ``PolicyError`` naming the
file, the tier and the field.

String values may use ``${NAME}`` or ``${NAME:-default}`` (the default also replaces an empty
value); an unset variable without a default is an error naming it. There is no escape for a
literal ``${``. Keys never pass through the file: ``api_key`` is refused, and ``api_key_env``
names a variable, it is not substituted.
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from records import Budget, Strategy
from router.decision.policy import Policy, Tier, TierProblem
from router.decision.verifier_specs import SPEC_KINDS
from router.errors import PolicyError

__all__ = ["load_policy"]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

Loc = tuple[str | int, ...]


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
    if isinstance(cause, TierProblem):
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
    if len(parent) >= 3 and parent[0] == "verifiers":
        model = SPEC_KINDS.get(str(parent[2]), model)
    return [field.alias or name for name, field in model.model_fields.items()]
