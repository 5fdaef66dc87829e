"""Every error the service raises on purpose, and the one place they meet HTTP.

    RouterError (classifiers.errors)       status  OpenAI type
    ├── ClassifierError                     503    classifier_unavailable
    │   ├── EncoderUnavailableError
    │   └── ArtifactError
    │       ├── ArtifactNotFoundError
    │       ├── ArtifactIntegrityError
    │       └── ArtifactMismatchError
    ├── DataError                           400    invalid_request_error
    │   └── RowError                               (file and line number)
    ├── DecisionLogError                    503    decision_log_unavailable (store unreachable;
    │                                              cause kept as __cause__)
    ├── PolicyError                         500    policy_error      (file, tier, field, problem)
    ├── AdminAuthError                      401    authentication_error (admin API without token)
    ├── PolicyChangeError                          a change of the serving policy refused
    │   ├── PolicyRejectedError             422    policy_rejected   (names the problem)
    │   ├── PreconditionRequiredError       428    precondition_required (no If-Match)
    │   └── PreconditionFailedError         412    precondition_failed (stale If-Match)
    ├── ReloadAnnounceError                 503    reload_announce_failed (Redis unreachable;
    │                                              CURRENT moved anyway; cause kept)
    ├── ServiceNotReadyError                503    service_unavailable (nothing loaded yet)
    ├── ServiceShuttingDownError            503    a stream still open when the drain ended
    ├── AccessError                                (router.access: who may call, how often)
    │   ├── UnauthenticatedError            401    authentication_error (no key, unknown or revoked)
    │   ├── PermissionDeniedError           403    permission_error   (names the missing scope)
    │   ├── RateLimitedError                429    rate_limit_error   (Retry-After header)
    │   ├── UnknownKeyError                 404    not_found_error    (`router keys revoke`)
    │   └── KeyStoreError                   503    key_store_unavailable (cause kept)
    ├── RequestError                        400    invalid_request_error
    │   ├── EmptyPromptError                       no text to score
    │   ├── ForbiddenFieldError                    client tried to steer the upstream (api_base...)
    │   ├── UnknownModelError               404    not "auto", a tier or a model the policy knows
    │   ├── PayloadTooLargeError            413
    │   ├── SpendCapReachedError            429    spend_cap_reached (names the cap and its reset)
    │   ├── SimulationError                        a simulation or tuning its input cannot support
    │   └── FeedbackError                          feedback the log cannot take
    │       ├── UnknownRequestError         404    no logged request has that id
    │       ├── RequestNotLoggedYetError    503    a recent id not visible yet (Retry-After)
    │       └── IdempotencyKeyReusedError   409    the key came before with other content
    └── UpstreamError                       502    upstream_error     (cause kept as __cause__)
        ├── UpstreamUnreachableError        502    refused, DNS, TLS, connect timeout (names tier,
        │                                              address and cause)
        ├── MissingProviderKeyError         502    provider_key_error (names the env var: the
        │                                          router's key is missing or was refused)
        ├── EmptyAnswerError                502    HTTP 200 without an answer (no choices, an
        │                                          empty stream)
        ├── UpstreamTimeoutError            504    the request's deadline (the tier's timeout_s)
        ├── UpstreamCoolingDownError        503    every deployment rests after recent failures
        │                                          (Retry-After)
        └── UpstreamRateLimitedError        429    rate_limit_error

``RouterError.status_code`` and ``error_type`` are the only HTTP mapping; ``error_body`` shapes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from classifiers.errors import (
    ArtifactError,
    ArtifactIntegrityError,
    ArtifactMismatchError,
    ArtifactNotFoundError,
    ClassifierError,
    DataError,
    EncoderUnavailableError,
    RouterError,
    RowError,
)

__all__ = [
    "AccessError",
    "AdminAuthError",
    "ArtifactError",
    "ArtifactIntegrityError",
    "ArtifactMismatchError",
    "ArtifactNotFoundError",
    "ClassifierError",
    "DataError",
    "DecisionLogError",
    "EmptyAnswerError",
    "EmptyPromptError",
    "EncoderUnavailableError",
    "FeedbackError",
    "ForbiddenFieldError",
    "IdempotencyKeyReusedError",
    "KeyStoreError",
    "MissingProviderKeyError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PolicyChangeError",
    "PolicyError",
    "PolicyRejectedError",
    "PreconditionFailedError",
    "PreconditionRequiredError",
    "RateLimitedError",
    "ReloadAnnounceError",
    "RequestError",
    "RequestNotLoggedYetError",
    "RouterError",
    "RowError",
    "ServiceNotReadyError",
    "ServiceShuttingDownError",
    "SimulationError",
    "SpendCapReachedError",
    "UnauthenticatedError",
    "UnknownKeyError",
    "UnknownModelError",
    "UnknownRequestError",
    "UpstreamCoolingDownError",
    "UpstreamError",
    "UpstreamRateLimitedError",
    "UpstreamTimeoutError",
    "UpstreamUnreachableError",
    "error_body",
]


class PolicyError(RouterError):
    status_code = 500
    error_type = "policy_error"

    def __init__(
        self, source: Path | str, problem: str, *, tier: str | None = None, field: str | None = None
    ) -> None:
        where = str(source)
        if tier is not None:
            where += f": tier '{tier}'"
        if field is not None:
            where += f": {field}"
        super().__init__(f"{where}: {problem}")
        self.source = str(source)
        self.tier = tier
        self.field = field
        self.problem = problem


class AdminAuthError(RouterError):
    """The admin API without a valid admin token (the token itself is never echoed)."""

    status_code = 401
    error_type = "authentication_error"


class PolicyChangeError(RouterError):
    status_code = 409
    error_type = "policy_change_refused"


class PolicyRejectedError(PolicyChangeError):
    status_code = 422
    error_type = "policy_rejected"


class PreconditionRequiredError(PolicyChangeError):
    status_code = 428
    error_type = "precondition_required"


class PreconditionFailedError(PolicyChangeError):
    status_code = 412
    error_type = "precondition_failed"


class ServiceNotReadyError(RouterError):
    status_code = 503
    error_type = "service_unavailable"


class ServiceShuttingDownError(RouterError):
    status_code = 503
    error_type = "service_unavailable"


class AccessError(RouterError):
    """Who may call, with which scopes and how often (``router.access``)."""

    status_code = 403
    error_type = "permission_error"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.headers = headers or {}


class UnauthenticatedError(AccessError):
    status_code = 401
    error_type = "authentication_error"

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class PermissionDeniedError(AccessError):
    pass


class RateLimitedError(AccessError):
    status_code = 429
    error_type = "rate_limit_error"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_s)})
        self.retry_after_s = retry_after_s


class UnknownKeyError(AccessError):
    status_code = 404
    error_type = "not_found_error"


class KeyStoreError(AccessError):
    """The key store (the keys file or Redis) cannot be read or written."""

    status_code = 503
    error_type = "key_store_unavailable"


class RequestError(RouterError):
    status_code = 400
    error_type = "invalid_request_error"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class EmptyPromptError(RequestError):
    pass


class ForbiddenFieldError(RequestError):
    pass


class UnknownModelError(RequestError):
    status_code = 404


class PayloadTooLargeError(RequestError):
    status_code = 413


class SpendCapReachedError(RequestError):
    status_code = 429
    error_type = "spend_cap_reached"


class SimulationError(RequestError):
    """A what-if simulation or a tuning target that the policy or the traffic cannot meet."""


class FeedbackError(RequestError):
    pass


class UnknownRequestError(FeedbackError):
    status_code = 404


class RequestNotLoggedYetError(FeedbackError):
    """Feedback on a recent request whose record is not visible yet: retry shortly."""

    status_code = 503
    error_type = "service_unavailable"
    headers: Final = {"Retry-After": "1"}


class IdempotencyKeyReusedError(FeedbackError):
    status_code = 409


class DecisionLogError(RouterError):
    """The decision log's store cannot be reached (Redis down, SQLite file unusable)."""

    status_code = 503
    error_type = "decision_log_unavailable"


class ReloadAnnounceError(RouterError):
    """A new CURRENT could not be announced on Redis; replicas still find it by polling."""

    status_code = 503
    error_type = "reload_announce_failed"


class UpstreamError(RouterError):
    status_code = 502
    error_type = "upstream_error"

    def __init__(
        self, message: str, *, model: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.model = model
        self.headers = headers or {}
        # What the failed request still cost (an empty answer is billed): prompt, completion
        # and reasoning tokens, and US dollars; set by router.upstream.
        self.spent_tokens: tuple[int, int, int] = (0, 0, 0)
        self.spent_cost_usd = 0.0


class UpstreamUnreachableError(UpstreamError):
    """No connection to the upstream: refused, DNS, TLS or connect timeout (``address`` and
    ``cause`` say which); the message names the tier once the service knows it."""

    def __init__(
        self, message: str, *, model: str | None = None, address: str | None, cause: str
    ) -> None:
        super().__init__(message, model=model)
        self.address = address
        self.cause = cause

    def for_tier(self, tier: str) -> UpstreamUnreachableError:
        """The same error, its message starting with the tier that was asked."""
        return UpstreamUnreachableError(
            f"tier '{tier}': {self.message}",
            model=self.model,
            address=self.address,
            cause=self.cause,
        )


class MissingProviderKeyError(UpstreamError):
    """The router's own key for a provider is missing or was refused: not the client's fault."""

    error_type = "provider_key_error"


class EmptyAnswerError(UpstreamError):
    pass


class UpstreamCoolingDownError(UpstreamError):
    status_code = 503
    error_type = "service_unavailable"


class UpstreamTimeoutError(UpstreamError):
    status_code = 504


class UpstreamRateLimitedError(UpstreamError):
    status_code = 429
    error_type = "rate_limit_error"


def error_body(error: RouterError) -> dict[str, Any]:
    """The OpenAI-shaped JSON body for ``error``."""
    return {
        "error": {
            "message": error.message,
            "type": error.error_type,
            "param": getattr(error, "param", None),
            "code": type(error).__name__,
        }
    }
