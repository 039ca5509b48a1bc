"""The kernel every domain may import; it imports no domain."""
