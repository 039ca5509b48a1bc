"""Operator stats: overview, daily series, CSV export, cohorts, services, store comparison."""
