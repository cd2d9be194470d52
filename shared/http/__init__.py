"""HTTP building blocks shared by every service: the app factory, error rendering, request parsing, idempotency."""
