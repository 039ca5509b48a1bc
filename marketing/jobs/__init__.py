"""Issuing a campaign to a segment as a background job (issue 20)."""
