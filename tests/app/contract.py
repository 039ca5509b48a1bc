"""What the contract tests (tests/app/test_contract_i*.py) share: reading an answer the way
an outside client does."""

from __future__ import annotations

from typing import Any


def assert_types(body: dict[str, Any], expected: dict[str, type | tuple[type, ...]]) -> None:
    """``body`` has at least the ``expected`` fields, each of its type."""
    assert set(body) >= set(expected), (sorted(expected), body)
    for name, kind in expected.items():
        assert isinstance(body[name], kind), (name, body[name])
