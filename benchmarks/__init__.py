"""Microbenchmarks of disentax: train steps, layers, metrics, data, start-up.

Run them with ``disentax bench [NAME] --out FILE`` (``--list`` prints the names). Every
benchmark excludes warm-up from its timings, reports compile time separately, blocks on
its results (``jax.block_until_ready``), and records the median, minimum and maximum of
its repeats; the JSON written by :mod:`benchmarks.run` also records the device, the core
count, the thread settings and the library versions. ``benchmarks/results/`` holds the
files the README's tables are read from.
"""
