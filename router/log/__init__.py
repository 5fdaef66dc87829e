"""The decision log: recorder (off the request path), stores (SQLite, Redis), spool, export."""
