"""Shipped study specs: ``disentax study run --config <name>`` (see disentax.runs.study)."""
