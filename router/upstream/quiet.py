"""litellm, kept quiet: its log lines and its stdout banner are off unless ``LITELLM_LOG`` is set.

litellm logs two INFO lines per call, each printed twice once the service logs at INFO (by its
own stderr handler, then by the root logger's), and a failed call several ERROR blocks (one per
retry and fallback); the errors this package raises say what failed, once. It also prints "Give
Feedback / Get Help" on stdout, which would corrupt a command's ``--json`` output. litellm takes
seconds to import, so it is imported where first used, through ``import_litellm``.
"""

from __future__ import annotations

import logging
import os
from types import ModuleType
from typing import Final

__all__ = ["import_litellm", "quiet_litellm_logs"]

LITELLM_LOGGERS: Final = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")


def quiet_litellm_logs() -> None:
    """Raise litellm's loggers to CRITICAL; call before litellm is imported (it keeps the level)."""
    if os.environ.get("LITELLM_LOG") is None:
        for name in LITELLM_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)


def import_litellm() -> ModuleType:
    """litellm, with its loggers and its stdout banner quiet (unless ``LITELLM_LOG`` is set)."""
    quiet_litellm_logs()
    import litellm

    if os.environ.get("LITELLM_LOG") is None:
        litellm.suppress_debug_info = True
    return litellm
