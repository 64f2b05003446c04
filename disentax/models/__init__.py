"""disentax.models."""
