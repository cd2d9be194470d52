"""Fishbridge's common library: settings, errors, HTTP app factory, telemetry, streams, the event bus."""
