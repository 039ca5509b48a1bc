"""The rows the signing-key repository returns (the columns of ``core_signing_key``).

The repository casts Piccolo's plain dicts to these at its boundary (no copy), so a typo
in ``row["field"]`` fails mypy instead of a request.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TypedDict


class PublishedKeyRow(TypedDict):
    """A key as the JWKS publishes it."""

    kid: str  # 8 lower-case hex digits
    chain_id: uuid.UUID
    public_key: str  # raw 32 bytes, base64url without padding
    status: str  # active | retired
    created_at: datetime


class SigningKeyRow(PublishedKeyRow):
    id: uuid.UUID
    private_key_sealed: str  # AES-GCM under a key derived from O2O_SECRET_KEY
    retired_at: datetime | None
    publish_until: datetime | None
