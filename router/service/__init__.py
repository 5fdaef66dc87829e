"""The HTTP service: create_app, middleware, metrics, request orchestration, model reloads, api/."""
