"""disentax.viz."""
