"""The public routes, one module per area; each module has its own `registry` (api.py joins them)."""
