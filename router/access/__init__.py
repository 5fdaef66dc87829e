"""Who may call the service, with which scopes, and how often: API keys and rate limits."""
