"""Shared pieces of the example scripts: data loading, the Lightning task, training setup and
matched ReLU baselines. Part of the examples, not of the library."""
