"""What serves requests right now: the classifier, the policy, and the upstream built for it.

A ``Snapshot`` holds one scorer, one policy, the ``Decider`` over both, the ``DecisionBatcher``
that lets concurrent requests share its encoder passes, and the ``Upstream`` built for the
policy's tiers; it never changes. ``ModelStore`` is the mutable holder the app keeps in
its lifespan state (which Starlette shallow-copies into every request, so the holder is shared
and only its contents change):

    store = ModelStore(settings)
    store.reload()              # build a new snapshot, then swap it in with one assignment
    store.use_policy(document)  # the same classifier with another policy (the admin API)
    snapshot = store.active     # what a request uses from start to end, even across a reload

A reload that fails keeps the snapshot that was serving; until one succeeds the store is not
ready and ``active`` raises ``ServiceNotReadyError`` (503). The encoder is loaded once, by the
first reload, and kept: a new classifier version only brings a new estimator.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from classifiers.encoder import TextEncoder
from router.decision.batching import DecisionBatcher
from router.decision.decider import BatchScorer, Decider
from router.decision.policy import Policy
from router.errors import RouterError, ServiceNotReadyError
from router.ops.policy_file import PolicyDocument, read_document
from router.service.redaction import configured_secrets, install_masking
from router.settings import Settings
from router.upstream.client import Upstream
from router.upstream.targets import UpstreamTarget

if TYPE_CHECKING:
    from classifiers.artifacts.manifest import Manifest
    from classifiers.scorer import FeatureFn

__all__ = ["EncoderLoader", "ModelStore", "Snapshot", "load_encoder", "load_scorer"]

EncoderLoader = Callable[[Settings], TextEncoder]


def load_encoder(settings: Settings) -> TextEncoder:
    """The packaged sentence encoder, batched and cached as the settings say."""
    from classifiers.encoder import Encoder

    return Encoder.load(
        batch_size=settings.encoder_batch_size,
        cache_size=settings.encoder_cache_size,
        torch_threads=settings.encoder_threads,
    )


def load_scorer(settings: Settings, encoder: TextEncoder | None = None) -> BatchScorer:
    """The active (or pinned) artifact version over ``encoder`` (default: the packaged one)."""
    from classifiers.artifacts.store import load_artifact
    from classifiers.artifacts.versions import resolve_version
    from classifiers.scorer import Scorer

    encoder = load_encoder(settings) if encoder is None else encoder
    version_dir = resolve_version(settings.models_dir, settings.model_version)
    artifact = load_artifact(
        version_dir,
        encoder_name=encoder.name,
        encoder_dimension=encoder.dimension,
        encoder_files_sha256=encoder.files_sha256,
    )
    return Scorer.from_artifact(encoder, artifact, _feature_fn(version_dir, artifact.manifest))


def _feature_fn(version_dir: Path, manifest: Manifest) -> FeatureFn:
    """The ``feature_fn`` the artifact was fitted with, judged by its manifest's feature names."""
    from classifiers.errors import ArtifactMismatchError
    from classifiers.features import FEATURE_NAMES, build_features
    from classifiers.scorer import embeddings_only

    names = tuple(manifest.feature_names)
    if not names:
        return embeddings_only
    if names[-len(FEATURE_NAMES) :] == FEATURE_NAMES:
        return build_features
    raise ArtifactMismatchError(
        version_dir, f"fitted on features {list(names)}, which this build cannot compute"
    )


@dataclass(frozen=True)
class Snapshot:
    """A scorer, a policy, the upstream built for it and the batcher in front, serving together."""

    decider: Decider
    upstream: Upstream
    targets: Mapping[str, UpstreamTarget]
    batcher: DecisionBatcher
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    document: PolicyDocument | None = None  # the policy's text, when it came from one

    @classmethod
    def build(
        cls,
        scorer: BatchScorer,
        policy: Policy,
        settings: Settings,
        document: PolicyDocument | None = None,
    ) -> Snapshot:
        targets = {tier.name: UpstreamTarget.of(tier) for tier in policy.tiers}
        named = [tier.api_key_env for tier in policy.tiers]
        admin = settings.admin_token.get_secret_value() if settings.admin_token else None
        install_masking().add(admin, *configured_secrets(named, [settings.redis_url]))
        upstream = Upstream(
            targets.values(),
            num_retries=settings.upstream_retries,
            cooldown_s=settings.upstream_cooldown_s,
            allowed_fails=settings.upstream_allowed_fails,
            connect_timeout_s=settings.upstream_connect_timeout_s,
        )
        decider = Decider(scorer, policy)
        batcher = DecisionBatcher(decider, max_batch=settings.encoder_batch_size)
        return cls(decider, upstream, targets, batcher, document=document)

    @property
    def policy(self) -> Policy:
        return self.decider.policy

    @property
    def classifier_version(self) -> str:
        return self.decider.scorer.version

    @property
    def policy_version(self) -> str:
        return self.policy.version

    def target(self, tier: str) -> UpstreamTarget:
        """Where a decision for ``tier`` is sent."""
        return self.targets[tier]


class ModelStore:
    """The mutable holder of the serving ``Snapshot``; ``reload()`` swaps it atomically."""

    def __init__(self, settings: Settings, encoder_loader: EncoderLoader = load_encoder) -> None:
        self.settings = settings
        self.encoder_loader = encoder_loader
        self._encoder: TextEncoder | None = None
        self._active: Snapshot | None = None
        self._problem: str | None = "not loaded yet"
        self._reloading = threading.Lock()
        self._document: PolicyDocument | None = None  # set by use_policy; else the file

    @property
    def active(self) -> Snapshot:
        """The serving snapshot; ``ServiceNotReadyError`` if none has loaded."""
        active = self._active
        if active is None:
            raise ServiceNotReadyError(f"the router is not ready: {self._problem}")
        return active

    @property
    def ready(self) -> bool:
        return self._active is not None

    @property
    def problem(self) -> str | None:
        """Why the last reload failed (an older snapshot may still serve); None if it did not."""
        return self._problem

    def reload(self) -> Snapshot:
        """Load the policy and classifier afresh and swap them in; blocking, so call it off the
        event loop. On failure the serving snapshot stays and the error is raised."""
        with self._reloading:
            try:
                snapshot = self._build()
            except RouterError as exc:
                self._problem = exc.message
                raise
            self._active, self._problem = snapshot, None
            return snapshot

    def use_policy(self, document: PolicyDocument) -> Snapshot:
        """Serve ``document``'s policy with the serving classifier, from now on (a classifier
        reload keeps it); blocking. Requests in flight finish on the snapshot they hold."""
        with self._reloading:
            scorer = self.active.decider.scorer
            snapshot = Snapshot.build(scorer, document.policy, self.settings, document)
            self._active, self._document = snapshot, document
            return snapshot

    def _build(self) -> Snapshot:
        document = self._document or read_document(self.settings.policy_path)
        if self._encoder is None:
            self._encoder = self.encoder_loader(self.settings)
        scorer = load_scorer(self.settings, self._encoder)
        return Snapshot.build(scorer, document.policy, self.settings, document)
