"""Chains, stores, staff, members, services and resources."""
