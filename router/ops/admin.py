"""Admin actions on the serving policy: read, validate, apply, roll back, with an audit.

    admin = PolicyAdmin(home, holder, audit)
    document = admin.current()                        # text, policy, ETag
    entry = admin.apply(text, if_match, actor)        # 428 without If-Match, 412 stale, 422 invalid
    entry = admin.rollback(if_match, actor)           # undoes the newest change not yet undone

A change is validated first (``document_from_text``: the error names file, tier and field),
then compared-and-set in the policy's home (``router.ops.policy_home``) with its audit entry
written just before the new policy, then served here (``holder.use_policy``) and announced to
the other replicas. The replica that took the change serves it before it answers; the others
switch when they hear of it (Redis) or see the file change (embedded).

Rollback is a stack, like ``router models rollback``: it undoes the newest ``apply`` that no
later ``rollback`` undid, restoring the text that apply replaced.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

from router.errors import PolicyChangeError, SimulationError
from router.ops.audit import Action, AuditEntry, AuditLog
from router.ops.policy_file import PolicyDocument, document_from_text, with_bands_text
from router.ops.policy_home import PolicyHome
from router.ops.tuning import with_edges

__all__ = ["Actor", "PolicyAdmin", "PolicyHolder"]

HISTORY_SCAN = 1000


class PolicyHolder(Protocol):
    def use_policy(self, document: PolicyDocument) -> object: ...


@dataclass(frozen=True)
class Actor:
    """Who asked for a change, and from where (the client address)."""

    name: str
    address: str | None = None


class PolicyAdmin:
    def __init__(self, home: PolicyHome, holder: PolicyHolder, audit: AuditLog) -> None:
        self.home = home
        self.holder = holder
        self.audit = audit
        self._changing = threading.Lock()

    def current(self) -> PolicyDocument:
        """The policy every replica should serve (the home's)."""
        return self.home.read()

    def validate(self, text: str) -> PolicyDocument:
        """``text`` as a policy, or ``PolicyRejectedError`` (422) naming the problem."""
        return document_from_text(text, "candidate.yaml")

    def with_edges(self, edges: list[float], version: str | None = None) -> PolicyDocument:
        """The current policy with its inner band edges at ``edges`` (a new version), as a
        document ready to simulate or apply; ``SimulationError`` for edges that do not fit."""
        current = self.current()
        if sorted(edges) != edges or any(not 0.0 < edge < 1.0 for edge in edges):
            raise SimulationError(f"band edges {edges} must rise strictly inside (0, 1)")
        if len(set(edges)) != len(edges):
            raise SimulationError(f"band edges {edges} repeat a value: every band needs width")
        tuned = with_edges(current.policy, edges, version or f"{current.version}-edited")
        return self.validate(with_bands_text(current.text, "current policy", tuned))

    def apply(self, text: str, if_match: str | None, actor: Actor, reason: str = "") -> AuditEntry:
        return self._change("apply", self.validate(text), if_match, actor, reason)

    def rollback(self, if_match: str | None, actor: Actor, reason: str = "") -> AuditEntry:
        undone = self._to_undo()
        document = document_from_text(undone.text_before, f"rollback of {undone.id}")
        return self._change("rollback", document, if_match, actor, reason)

    def history(self, limit: int = 50) -> list[AuditEntry]:
        return self.audit.entries(limit)

    def _change(
        self, action: Action, document: PolicyDocument, if_match: str | None,
        actor: Actor, reason: str,
    ) -> AuditEntry:  # fmt: skip
        entries: list[AuditEntry] = []

        def record(before: PolicyDocument) -> None:
            entry = AuditEntry.of(
                action, before, document, actor=actor.name, address=actor.address, reason=reason
            )
            self.audit.append(entry)
            entries.append(entry)

        with self._changing:
            self.home.replace(if_match, document, record)
            self.holder.use_policy(document)
        self.home.announce(document)
        return entries[0]

    def _to_undo(self) -> AuditEntry:
        pending = 0
        for entry in self.audit.entries(HISTORY_SCAN):
            if entry.action == "rollback":
                pending += 1
            elif pending:
                pending -= 1
            else:
                return entry
        raise PolicyChangeError("nothing to roll back: no applied change is left to undo")
