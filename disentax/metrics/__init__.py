"""disentax.metrics."""
