"""Benchmarks (scripts run as ``python bench/NAME.py``) and what only they and the demo
need outside the product: the ceilings' routes and their server, the large demo."""
