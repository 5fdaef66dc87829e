"""Calling models: the only litellm caller (targets, credentials, strategies, voting, cost).

    client.py       Upstream: one litellm Router for every target; complete() and stream()
    targets.py      what a call needs from a policy tier, and where its key comes from
    strategies.py   several samples per call: majority vote or first to answer
    streaming.py    UpstreamStream: a stream's chunks, usage and cost
    results.py      Usage and UpstreamResult (no litellm: metrics and the service read them)
    cost.py         litellm's price of an answer
    translation.py  litellm's exceptions as ``router.errors`` ones, keys redacted
    voting.py       final answers and the majority vote over them

litellm reads these two at import: it must use its bundled price map and never go online.
Setting them here, before any module of this package imports litellm, makes that hold whichever
module is imported first.
"""

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
