"""Secrets and signatures of the Standard Webhooks scheme.

A secret is ``whsec_`` + base64 of 32 random bytes; the key is those bytes. A delivery's
``webhook-signature`` is one ``v1,<base64 HMAC-SHA256>`` per live secret (two during
the 24 h after a rotation), space-separated, each over ``{id}.{timestamp}.{body}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable

PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return PREFIX + base64.b64encode(os.urandom(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    if not secret.startswith(PREFIX):
        raise ValueError("not a webhook secret")
    return base64.b64decode(secret[len(PREFIX):])


def signature(secrets: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header: one ``v1,`` entry per secret."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(_key(s), signed, hashlib.sha256).digest()).decode()
        for s in secrets)
