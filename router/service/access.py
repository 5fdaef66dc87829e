"""The service's access mode, decided from the settings and the key store at start-up.

    guard = await open_guard(settings)           # in the lifespan; logs the mode
    refusal = await open_access_refusal(settings)   # `router serve`: None, or why it must not start

Keys configured (any, even revoked): every request needs one. None configured: the service is
open, to loopback callers only unless ``ROUTER_OPEN_ACCESS=true``; ``router serve`` on any other
address refuses to start without that setting, and says at start-up that it runs open.
"""

from __future__ import annotations

import logging

from router.access.guard import Guard, is_loopback
from router.access.keystore import KeyStore, open_key_store
from router.access.limits import open_limiter
from router.settings import Settings

__all__ = ["open_access_refusal", "open_guard"]

logger = logging.getLogger(__name__)


async def open_guard(settings: Settings) -> Guard:
    store = open_key_store(settings)
    try:
        configured = (await store.find(None)).configured
    except Exception:
        logger.exception(
            "API keys: cannot read %s; requests are refused until it answers", store.where()
        )
        configured = True
    _announce(settings, store, configured=configured)
    return Guard(store, open_limiter(settings), open_access=settings.open_access)


async def open_access_refusal(settings: Settings) -> str | None:
    """Why ``router serve`` must not start with these settings, or None."""
    if settings.open_access or is_loopback(settings.host):
        return None
    store = open_key_store(settings)
    try:
        configured = (await store.find(None)).configured
    finally:
        await store.aclose()
    if configured:
        return None
    return (
        f"no API keys are configured ({store.where()}) and {settings.host} is not a loopback"
        " address: create one with `router keys create`, or set ROUTER_OPEN_ACCESS=true if"
        " anyone who can reach this address may use the service"
    )


def _announce(settings: Settings, store: KeyStore, *, configured: bool) -> None:
    if configured:
        logger.info("API keys required (%s)", store.where())
    elif settings.open_access:
        logger.warning(
            "OPEN ACCESS: no API keys are configured and ROUTER_OPEN_ACCESS=true: anyone who"
            " can reach %s:%d may use every endpoint",
            settings.host,
            settings.port,
        )
    else:
        logger.warning(
            "no API keys are configured (%s): open to loopback callers only", store.where()
        )
