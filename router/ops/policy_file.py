"""Policy files as ops tools handle them: documents (text + policy + ETag) and tuned copies.

    document = read_document(path)                 # the file's text, its policy, its ETag
    document = document_from_text(text, "candidate.yaml")   # PolicyRejectedError naming the problem
    text = with_bands_yaml(source_path, tuned, header=["simulated on logs.jsonl", ...])

A document's ETag is a hash of its text: the admin API hands it out and takes it back in
``If-Match``, so a change made from a stale view of the policy is refused.

The source file's raw YAML is kept (``${VAR}`` references stay references, so no secret or
host is baked in) and only ``version`` and each tier's ``band`` change; the header lines become
comments at the top. The text is checked by loading it before it is returned.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from router.decision.policy import Policy
from router.decision.policy_file import load_policy
from router.errors import PolicyError, PolicyRejectedError

__all__ = [
    "PolicyDocument",
    "document_from_text",
    "read_document",
    "with_bands_text",
    "with_bands_yaml",
]


@dataclass(frozen=True)
class PolicyDocument:
    """A policy with the text it was read from."""

    text: str
    policy: Policy

    @property
    def etag(self) -> str:
        digest = hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:32]
        return f'"{digest}"'

    @property
    def version(self) -> str:
        return self.policy.version


def read_document(path: Path) -> PolicyDocument:
    """The policy file at ``path``, read once; ``PolicyError`` as ``load_policy`` raises it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        load_policy(path)  # raises the PolicyError that names the problem
        raise
    return _parse(text, str(path))


def document_from_text(text: str, name: str = "policy.yaml") -> PolicyDocument:
    """``text`` validated as a policy file called ``name``; ``PolicyRejectedError`` naming the
    problem (file, tier, field) otherwise."""
    try:
        return _parse(text, name)
    except PolicyError as exc:
        raise PolicyRejectedError(exc.message) from exc


def _parse(text: str, shown: str) -> PolicyDocument:
    """``text`` through ``load_policy`` (env substitution included), errors naming ``shown``."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / Path(shown).name
        path.write_text(text, encoding="utf-8")
        try:
            policy = load_policy(path)
        except PolicyError as exc:
            problem = exc.message.replace(str(path), shown)
            raise PolicyError(shown, problem.removeprefix(f"{shown}: ")) from exc
    return PolicyDocument(text, policy)


def with_bands_yaml(source: Path, policy: Policy, header: Sequence[str] = ()) -> str:
    """The YAML of ``source`` with ``policy``'s version and bands; ``PolicyError`` if the tiers
    do not match by name."""
    return with_bands_text(source.read_text(encoding="utf-8"), source, policy, header)


def with_bands_text(
    text: str, source: Path | str, policy: Policy, header: Sequence[str] = ()
) -> str:
    """``with_bands_yaml`` of a policy's ``text`` (``source`` names it in errors)."""
    source = Path(source)
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict) or not isinstance(raw.get("tiers"), list):
        raise PolicyError(source, "expected a mapping with 'version' and 'tiers'")
    bands = {tier.name: [tier.band[0], tier.band[1]] for tier in policy.tiers}
    tiers: list[dict[str, Any]] = raw["tiers"]
    names = [tier.get("name") for tier in tiers]
    if names != list(bands):
        raise PolicyError(source, f"tiers {names} are not the tuned policy's {list(bands)}")
    for tier in tiers:
        tier["band"] = bands[tier["name"]]
    raw["version"] = policy.version
    comments = "".join(f"# {line}\n" for line in header)
    text = comments + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True)
    _check(text, source)
    return text


def _check(text: str, source: Path) -> None:
    document_from_text(text, source.name)
