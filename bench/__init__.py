"""Benchmarks: run with `python -m bench.<name>`; they print tables, they assert nothing."""
