"""Deciding: prompt extraction, scoring, the policy table, budgets, exploration, batching (pure)."""
