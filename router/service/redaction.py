"""Secrets never reach a log line: a mask applied to every record of every logger.

    masker = install_masking()                   # once per process; returns the shared masker
    masker.add(*configured_secrets(settings, env_names))   # at start-up and on policy reload

``install_masking`` wraps the log-record factory, so every record is masked as it is created,
whichever logger makes it and whichever handler then writes it: litellm's own stderr handler
and uvicorn's included (a filter on the root logger would see only records logged at the
root, and a filter on handlers only the handlers present when it was added). The record's
message is formatted once (``msg % args``) and replaced by its masked text, and a traceback or
stack is formatted and masked too; a handler's formatter then reuses that text.

What is masked, wherever it appears in the text:

- every secret ``add``-ed (provider keys read from the variables the policy names, and any
  variable whose name says it holds a secret: ``*_API_KEY``, ``*_TOKEN``, ``*SECRET*``,
  ``*PASSWORD*``), also URL-encoded or JSON-escaped;
- the password of any URL (``redis://user:pw@host`` -> ``redis://user:***@host``);
- a bearer token (``Authorization: Bearer ...``) and anything shaped like a router API key.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final
from urllib.parse import quote, urlsplit

__all__ = [
    "MASK",
    "SecretMasker",
    "configured_secrets",
    "install_masking",
    "secret_env_names",
    "without_password",
]

MASK: Final = "***"
MIN_SECRET_CHARS: Final = 8  # shorter values (EMPTY, "none", a port) would mask ordinary words
_URL_PASSWORD: Final = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*):[^@\s/]+@")
_BEARER: Final = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_ROUTER_TOKEN: Final = re.compile(r"rk_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}")
_SECRET_NAME: Final = re.compile(r"(_KEY|_TOKEN)$|SECRET|PASSWORD", re.I)

_install_lock = threading.Lock()
_installed: SecretMasker | None = None


class SecretMasker:
    """Replaces known secrets and secret-shaped text with ``***``."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        forms = {form for secret in secrets if secret for form in _forms(secret)}
        forms = {form for form in forms if len(form) >= MIN_SECRET_CHARS}
        if not forms - self._secrets:
            return
        self._secrets = self._secrets | forms
        longest_first = sorted(self._secrets, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, longest_first)))

    def mask(self, text: str) -> str:
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        text = _URL_PASSWORD.sub(rf"\g<head>:{MASK}@", text)
        text = _BEARER.sub(rf"\g<1>{MASK}", text)
        return _ROUTER_TOKEN.sub(f"rk_{MASK}", text)

    def mask_record(self, record: logging.LogRecord) -> None:
        """Mask ``record`` in place: its message (args merged in), traceback and stack."""
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep what there is, masked
            message = f"{record.msg} {record.args}"
        record.msg, record.args = self.mask(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)


def _forms(secret: str) -> set[str]:
    """``secret`` as it may appear in a message: raw, URL-encoded, JSON-escaped."""
    return {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}


def secret_env_names(environ: Mapping[str, str] | None = None) -> set[str]:
    """The variables whose names say they hold a secret (``OPENAI_API_KEY``, ``HF_TOKEN``...)."""
    return {name for name in (environ or os.environ) if _SECRET_NAME.search(name)}


def configured_secrets(
    names: Iterable[str | None],
    urls: Iterable[str | None] = (),
    environ: Mapping[str, str] | None = None,
) -> set[str]:
    """The values of the variables ``names`` (and of every secret-named variable), and the
    passwords of ``urls``."""
    env = os.environ if environ is None else environ
    wanted = {name for name in names if name} | secret_env_names(env)
    found = {value for name in wanted if (value := env.get(name))}
    for url in urls:
        password = urlsplit(url).password if url else None
        if password:
            found.add(password)
    return found


def without_password(url: str | None) -> str | None:
    """``url`` with its password (if any) replaced by ``***``, for display."""
    return None if url is None else _URL_PASSWORD.sub(rf"\g<head>:{MASK}@", url)


def install_masking() -> SecretMasker:
    """The process's masker, wrapping the log-record factory the first time it is called."""
    global _installed
    with _install_lock:
        if _installed is None:
            _installed = SecretMasker()
            _wrap_factory(_installed)
        return _installed


def _wrap_factory(masker: SecretMasker) -> None:
    make: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

    def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        masker.mask_record(record)
        return record

    logging.setLogRecordFactory(masked_record)
