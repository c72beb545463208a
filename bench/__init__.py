"""Benchmarks of the collection on the local stack; run them with bench/run (see bench/README.md)."""
