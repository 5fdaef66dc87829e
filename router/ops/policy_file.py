"""Policy files written by ops tools: a source file with new band edges and version.

    text = with_bands_yaml(source_path, tuned, header=["simulated on logs.jsonl", ...])

The source file's raw YAML is kept (``${VAR}`` references stay references, so no secret or
host is baked in) and only ``version`` and each tier's ``band`` change; the header lines become
comments at the top. The text is checked by loading it before it is returned.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from router.errors import PolicyError
from router.policy import Policy, load_policy

__all__ = ["with_bands_yaml"]


def with_bands_yaml(source: Path, policy: Policy, header: Sequence[str] = ()) -> str:
    """The YAML of ``source`` with ``policy``'s version and bands; ``PolicyError`` if the tiers
    do not match by name."""
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
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
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / source.name
        path.write_text(text, encoding="utf-8")
        load_policy(path)
