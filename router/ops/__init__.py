"""Ops tools over the policy: what-if simulation, tuning, and (later) admin actions.

    traffic = read_export(Path("logs.jsonl"))                  # logged decisions
    result = compare(candidate, current, traffic)               # both policies, side by side
    tuned = tune_shares(current, traffic, {"fast": 0.5, ...})   # band edges for target shares

``traffic`` reads what to simulate on (an export or a labelled file), ``estimators`` holds the
off-policy estimators (inverse propensity, doubly robust), ``simulation`` applies a policy to the
traffic and reports its figures, ``tuning`` proposes band edges, ``curve`` draws the cost-quality
curve. Nothing here serves requests: the service and the CLI call in.
"""
