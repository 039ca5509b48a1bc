"""The signed code format, v1 (API.md, "Signing keys and the signed code format").

A code is the text ``O2O1`` followed by RFC 4648 base32 (upper case, no padding) of
``payload || signature``. The payload is 26 bytes, big-endian::

    version u8 = 1 | kind u8 ('V', 'C', 'B') | kid 4 bytes | object_id 16 bytes | not_after u32

and the signature is 64 bytes of Ed25519 over the payload. 90 bytes are exactly 144
base32 characters, so a code is always 148 characters and never needs padding.

:func:`parse` accepts exactly the canonical text and nothing else: no lower case, no
padding, no whitespace, no other prefix, version or kind. Anything else is
:class:`InvalidCode`, never another exception, so callers can hand it whatever a scanner
read. It checks the form only; :class:`app.core.codes.keys.CodeSigner` checks signatures.
"""

from __future__ import annotations

import base64
import re
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from app.core.codes.errors import InvalidCode

PREFIX = "O2O1"
VERSION = 1
KID_BYTES = 4
PAYLOAD_BYTES = 26
SIGNATURE_BYTES = 64
RAW_BYTES = PAYLOAD_BYTES + SIGNATURE_BYTES  # 90
BODY_CHARS = RAW_BYTES * 8 // 5  # 144: a whole number of base32 groups, no padding
CODE_CHARS = len(PREFIX) + BODY_CHARS  # 148
MAX_NOT_AFTER = 2**32 - 1

_PAYLOAD = struct.Struct(">BB4s16sI")
assert _PAYLOAD.size == PAYLOAD_BYTES
_BODY = re.compile(rf"[A-Z2-7]{{{BODY_CHARS}}}")  # ASCII only: [A-Z] is no other letter
# Decoding on the hot path of every scan: RFC 4648's alphabet onto the digits int() reads
# in base 32, one big integer, its 90 bytes (base64.b32decode is pure Python: ten times
# slower). 144 characters are exactly 720 bits, no padding bits, so this is a bijection:
# every well-formed body is the only spelling of its bytes.
_TO_DIGITS = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
                           "0123456789abcdefghijklmnopqrstuv")


class CodeKind(StrEnum):
    """What a code stands for; the value is the payload's ``kind`` byte as a letter."""

    VOUCHER = "V"
    CARD = "C"
    BOOKING = "B"


@dataclass(frozen=True, slots=True)
class CodePayload:
    """The signed part of a code (the version is implied: always 1 here)."""

    kind: CodeKind
    kid: bytes
    object_id: uuid.UUID
    not_after: int  # unix seconds; the code is good up to and including this second

    def __post_init__(self) -> None:
        if not isinstance(self.kind, CodeKind):
            raise ValueError(f"kind must be a CodeKind, not {self.kind!r}")
        if len(self.kid) != KID_BYTES:
            raise ValueError("kid must be 4 bytes")
        if not 0 <= self.not_after <= MAX_NOT_AFTER:
            raise ValueError("not_after must fit an unsigned 32-bit number of seconds")

    @property
    def kid_hex(self) -> str:
        """The kid as the JWK names it: 8 lower-case hex digits."""
        return self.kid.hex()

    @property
    def expires_at(self) -> datetime:
        return datetime.fromtimestamp(self.not_after, UTC)

    def to_bytes(self) -> bytes:
        return _PAYLOAD.pack(VERSION, ord(self.kind.value), self.kid, self.object_id.bytes,
                             self.not_after)


def encode(payload: CodePayload, signature: bytes) -> str:
    """The code text of a payload and its signature."""
    return encode_raw(payload.to_bytes(), signature)


def encode_raw(payload_bytes: bytes, signature: bytes) -> str:
    if len(payload_bytes) != PAYLOAD_BYTES or len(signature) != SIGNATURE_BYTES:
        raise ValueError("a code is a 26-byte payload and a 64-byte signature")
    return PREFIX + base64.b32encode(payload_bytes + signature).decode("ascii")


def parse(text: str) -> tuple[CodePayload, bytes]:
    """The payload and signature of a well-formed code; :class:`InvalidCode` otherwise."""
    payload, _, signature = split(text)
    return payload, signature


def split(text: str) -> tuple[CodePayload, bytes, bytes]:
    """Like :func:`parse`, also giving the payload's exact bytes (what was signed)."""
    if not isinstance(text, str) or len(text) != CODE_CHARS:
        raise InvalidCode(f"a code is {CODE_CHARS} characters")
    if not text.startswith(PREFIX):
        raise InvalidCode(f"a code starts with {PREFIX}")
    body = text[len(PREFIX):]
    if _BODY.fullmatch(body) is None:
        raise InvalidCode("a code is upper-case base32 without padding or spaces")
    raw = int(body.translate(_TO_DIGITS), 32).to_bytes(RAW_BYTES, "big")
    version, kind_byte, kid, object_id, not_after = _PAYLOAD.unpack_from(raw)
    if version != VERSION:
        raise InvalidCode("unsupported code version")
    try:
        kind = CodeKind(chr(kind_byte))
    except ValueError:
        raise InvalidCode("unknown code kind") from None
    payload = CodePayload(kind=kind, kid=kid, object_id=uuid.UUID(bytes=object_id),
                          not_after=not_after)
    return payload, raw[:PAYLOAD_BYTES], raw[PAYLOAD_BYTES:]


def unix_seconds(moment: datetime) -> int:
    """``not_after`` of an aware datetime: whole seconds, rounded down (never later)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("not_after must be timezone-aware")
    seconds = int(moment.timestamp() // 1)
    if not 0 <= seconds <= MAX_NOT_AFTER:
        raise ValueError("not_after must fit an unsigned 32-bit number of seconds")
    return seconds
