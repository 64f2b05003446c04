"""disentax.data."""
