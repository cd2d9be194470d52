"""The refund service."""
