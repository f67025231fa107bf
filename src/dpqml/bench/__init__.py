"""Benchmarks of per-example gradient throughput (``dpqml bench``)."""
