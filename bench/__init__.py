"""Benchmarks, run by hand (`python -m bench all [--quick]`, see docs/benchmarks.md); not CI."""
