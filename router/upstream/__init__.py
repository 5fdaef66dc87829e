"""Calling models: the only litellm caller (targets, credentials, strategies, voting, cost)."""
