"""disentax.losses."""
