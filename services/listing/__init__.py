"""The listing service."""
