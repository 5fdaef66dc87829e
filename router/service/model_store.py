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
first reload, and kept: a new classifier version only brings a new estimator, unless (with
``ROUTER_ENCODER=auto``) it was fitted on the other kind of encoder, which is then loaded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from classifiers.encoder import TextEncoder
from records import Budget
from router.decision.batching import DecisionBatcher
from router.decision.decider import BatchScorer, Decider
from router.decision.forecast import TokenPrice
from router.decision.policy import Policy
from router.decision.spend_caps import budget_variants
from router.errors import PolicyError, RouterError, ServiceNotReadyError
from router.ops.policy_file import PolicyDocument, read_document
from router.service.forecasting import prices_of
from router.service.redaction import configured_secrets, install_masking
from router.settings import Settings
from router.upstream.client import Upstream
from router.upstream.targets import UpstreamTarget
from router.upstream.verifiers import Verifier
from training.budgets import BUDGET_MODEL_FILE, BudgetModel

if TYPE_CHECKING:
    from classifiers.artifacts.manifest import Manifest
    from classifiers.encoder_choice import EncoderKind
    from classifiers.scorer import FeatureFn

__all__ = [
    "EncoderLoader",
    "ModelStore",
    "Snapshot",
    "load_encoder",
    "load_scorer",
    "serving_encoder_kind",
]

EncoderLoader = Callable[[Settings], TextEncoder]


def load_encoder(settings: Settings) -> TextEncoder:
    """The encoder ``settings.encoder`` names (for ``auto``: the one the serving version was
    fitted on, see ``classifiers.encoder_choice``), batched and cached as the settings say."""
    from classifiers.encoder_choice import load_text_encoder

    return load_text_encoder(
        serving_encoder_kind(settings),
        batch_size=settings.encoder_batch_size,
        cache_size=settings.encoder_cache_size,
        threads=settings.encoder_threads,
    )


def serving_encoder_kind(settings: Settings) -> EncoderKind:
    """``settings.encoder``, with ``auto`` resolved by the serving version's manifest (the
    default kind if no version can be read: loading it will then say what is wrong)."""
    from classifiers.artifacts.manifest import read_manifest
    from classifiers.artifacts.versions import resolve_version
    from classifiers.encoder_choice import DEFAULT_KIND, kind_of

    if settings.encoder != "auto":
        return settings.encoder
    try:
        manifest = read_manifest(resolve_version(settings.models_dir, settings.model_version))
    except RouterError:
        return DEFAULT_KIND
    return kind_of(manifest.encoder.name) or DEFAULT_KIND


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
    verifiers: Mapping[str, Verifier] = field(default_factory=dict)
    prices: Mapping[str, TokenPrice | None] = field(default_factory=dict)
    variants: frozenset[UpstreamTarget] = frozenset()
    """Targets of the tiers under other budgets than their own (``budget_variants``)."""
    budget_model: BudgetModel | None = None
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    document: PolicyDocument | None = None  # the policy's text, when it came from one

    @classmethod
    def build(
        cls,
        scorer: BatchScorer,
        policy: Policy,
        settings: Settings,
        document: PolicyDocument | None = None,
        budget_model: BudgetModel | None = None,
        on_resend: Callable[[str], None] | None = None,
    ) -> Snapshot:
        targets = {tier.name: UpstreamTarget.of(tier) for tier in policy.tiers}
        named = [tier.api_key_env for tier in policy.tiers]
        admin = settings.admin_token.get_secret_value() if settings.admin_token else None
        install_masking().add(admin, *configured_secrets(named, [settings.redis_url]))
        variants = frozenset(
            replace(target, budget=budget)
            for tier in policy.tiers
            for target in (targets[tier.name],)
            for budget in budget_variants(tier)
        )
        upstream = Upstream(
            [*targets.values(), *variants],
            num_retries=settings.upstream_retries,
            cooldown_s=settings.upstream_cooldown_s,
            allowed_fails=settings.upstream_allowed_fails,
            connect_timeout_s=settings.upstream_connect_timeout_s,
            on_resend=on_resend,
        )
        decider = Decider(scorer, policy)
        batcher = DecisionBatcher(decider, max_batch=settings.encoder_batch_size)
        return cls(
            decider,
            upstream,
            targets,
            batcher,
            _verifiers(policy),
            prices_of(policy),
            variants,
            budget_model,
            document=document,
        )

    @property
    def policy(self) -> Policy:
        return self.decider.policy

    @property
    def classifier_version(self) -> str:
        return self.decider.scorer.version

    @property
    def policy_version(self) -> str:
        return self.policy.version

    def target(self, tier: str, budget: Budget | None = None) -> UpstreamTarget:
        """Where a decision for ``tier`` is sent; under ``budget`` when the Upstream was built
        with that variant, else under the tier's own budget."""
        base = self.targets[tier]
        if budget is None or budget == base.budget:
            return base
        variant = replace(base, budget=budget)
        if variant in self.variants:
            return variant
        below = [
            target
            for target in self.variants
            if target.model == base.model
            and target.budget.effort == budget.effort
            and (target.budget.budget_tokens or 0) <= (budget.budget_tokens or 0)
        ]
        return max(below, key=lambda t: t.budget.budget_tokens or 0, default=base)

    def verifier(self, name: str) -> Verifier:
        """The verifier a tier's strategy names (the policy checked that it exists)."""
        return self.verifiers[name]


def _verifiers(policy: Policy) -> dict[str, Verifier]:
    """A ready verifier for every name the policy's tiers use."""
    names = {tier.strategy.verifier for tier in policy.tiers} - {None}
    return {name: Verifier(name, policy.verifier_spec(name)) for name in names if name}


class ModelStore:
    """The mutable holder of the serving ``Snapshot``; ``reload()`` swaps it atomically."""

    def __init__(
        self,
        settings: Settings,
        encoder_loader: EncoderLoader = load_encoder,
        on_resend: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.encoder_loader = encoder_loader
        self.on_resend = on_resend  # each Upstream's: a call sent again after a dropped connection
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
            snapshot = Snapshot.build(
                scorer,
                document.policy,
                self.settings,
                document,
                budget_model=self.active.budget_model,
                on_resend=self.on_resend,
            )
            self._active, self._document = snapshot, document
            return snapshot

    def _build(self) -> Snapshot:
        document = self._document or read_document(self.settings.policy_path)
        if self._encoder is None or self._encoder_outdated(self._encoder):
            self._encoder = self.encoder_loader(self.settings)
        scorer = load_scorer(self.settings, self._encoder)
        return Snapshot.build(
            scorer,
            document.policy,
            self.settings,
            document,
            _budget_model(self.settings),
            on_resend=self.on_resend,
        )

    def _encoder_outdated(self, encoder: TextEncoder) -> bool:
        """Under ``auto``, whether the version to load was fitted on another kind of encoder
        than the loaded one (a promoted ONNX-fitted version replacing a torch-fitted one)."""
        from classifiers.encoder_choice import kind_of

        loaded = kind_of(encoder.name)
        return loaded is not None and loaded != serving_encoder_kind(self.settings)


def _budget_model(settings: Settings) -> BudgetModel | None:
    """The per-prompt budget model in the data dir (``router budgets fit``), if one is there."""
    path = settings.data_dir / BUDGET_MODEL_FILE
    if not path.is_file():
        return None
    try:
        return BudgetModel.load(path)
    except (OSError, ValueError) as exc:
        raise PolicyError(path, f"not a budget model: {exc}") from exc
