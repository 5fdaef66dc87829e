"""litellm, kept quiet: its log lines and its stdout banner are off unless ``LITELLM_LOG`` is set.

litellm logs two INFO lines per call, each printed twice once the service logs at INFO (by its
own stderr handler, then by the root logger's), and a failed call several ERROR blocks (one per
retry and fallback); the errors this package raises say what failed, once. It also prints "Give
Feedback / Get Help" on stdout, which would corrupt a command's ``--json`` output. litellm takes
seconds to import, so it is imported where first used, through ``import_litellm``.

A call cancelled before it is sent is not warned about either. ``litellm.acompletion`` builds the
provider's request coroutine in a worker thread (``run_in_executor``); when the call is cancelled
while that thread runs (a sample the vote no longer needs, a client that left), the coroutine is
dropped unstarted: nothing was sent or billed, but Python warns "coroutine ... was never awaited"
when it is collected, wherever the program then is.
"""

from __future__ import annotations

import logging
import os
import warnings
from types import ModuleType
from typing import Final

__all__ = ["UNSENT_CALL_WARNING", "import_litellm", "quiet_litellm_logs"]

LITELLM_LOGGERS: Final = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")
# The request coroutines of litellm's provider handlers (methods, or a few module functions);
# pyproject's pytest filterwarnings holds the same pattern, since pytest's "error" filter
# outranks any filter set at run time.
UNSENT_CALL_WARNING: Final = (
    r"coroutine '(\w+\.)?(acompletion|async_completion|async_streaming|acompletion_function"
    r"|acompletion_stream_function)' was never awaited"
)


def quiet_litellm_logs() -> None:
    """Raise litellm's loggers to CRITICAL; call before litellm is imported (it keeps the level)."""
    if os.environ.get("LITELLM_LOG") is None:
        for name in LITELLM_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)


def import_litellm() -> ModuleType:
    """litellm, with its loggers and its stdout banner quiet (unless ``LITELLM_LOG`` is set)."""
    quiet_litellm_logs()
    warnings.filterwarnings("ignore", message=UNSENT_CALL_WARNING, category=RuntimeWarning)
    import litellm

    if os.environ.get("LITELLM_LOG") is None:
        litellm.suppress_debug_info = True
    return litellm
