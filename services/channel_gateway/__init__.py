"""The channel_gateway service."""
