"""disentax.train."""
