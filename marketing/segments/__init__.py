"""Segments: the chain's members picked by what they did (issue 20)."""
