"""Signing keys of the chains and the signing and checking of codes.

Each chain has Ed25519 keys with 4-byte kids; one is active and signs, retired ones still
verify and stay published (``GET /keys``) while codes they signed may still be valid.
Private keys are stored sealed (AES-GCM with a key derived from O2O_SECRET_KEY for this
purpose only, the kid as associated data) and opened once per process.

Signing is hot (a card's dynamic code on every screen refresh), so a :class:`CodeSigner`
caches per process: opened private keys and public keys by kid (a kid's key never
changes), and which kid is a chain's active one for ``active_key_ttl`` seconds. A
rotation in this process takes effect at once; one made by another process (``o2o keys
rotate``) within ``active_key_ttl``, which is why a retired key's publication window
gets that much slack.
"""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from app.core.clock import utcnow
from app.core.codes import keys_repository as repo
from app.core.codes.errors import CodeExpired, InvalidCode
from app.core.codes.format import (
    KID_BYTES,
    CodeKind,
    CodePayload,
    encode_raw,
    split,
    unix_seconds,
)
from app.core.codes.rows import PublishedKeyRow, SigningKeyRow
from app.core.crypto import SecretBox
from app.core.db import in_write_transaction, write_transaction

PURPOSE = "o2o/signing-keys"
ACTIVE = repo.ACTIVE
RETIRED = repo.RETIRED
ACTIVE_KEY_TTL_SECONDS = 10.0
_CREATE_ATTEMPTS = 5


class SigningKeyUnavailable(RuntimeError):
    """A stored private key does not open: O2O_SECRET_KEY is not the one that sealed it."""


@dataclass(frozen=True, slots=True)
class SigningKeyInfo:
    kid: str  # 8 lower-case hex digits
    chain_id: uuid.UUID
    public_key: bytes  # raw 32 bytes
    status: str  # active | retired
    created_at: datetime


@dataclass(frozen=True, slots=True)
class VerifiedCode:
    """A code whose signature checked out and whose time has not passed.

    ``chain_id`` is the chain of the key that signed it: a caller acting for a chain must
    refuse a code of another chain (or pass ``chain_id=`` to :meth:`CodeSigner.verify`).
    """

    payload: CodePayload
    chain_id: uuid.UUID

    @property
    def kind(self) -> CodeKind:
        return self.payload.kind

    @property
    def object_id(self) -> uuid.UUID:
        return self.payload.object_id

    @property
    def kid(self) -> str:
        return self.payload.kid_hex

    @property
    def expires_at(self) -> datetime:
        return self.payload.expires_at


@dataclass(frozen=True, slots=True)
class _PublicKey:
    chain_id: uuid.UUID
    key: Ed25519PublicKey


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwk(kid: str, chain_id: uuid.UUID, public_key_b64: str) -> dict[str, str]:
    """A public key as a JWK (RFC 8037), with its chain."""
    return {"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": public_key_b64,
            "chain_id": str(chain_id)}


class CodeSigner:
    """Keys, signing and verification of codes; one per process (``Runtime.signer``)."""

    def __init__(self, root_secret: str, *, clock: Callable[[], datetime] = utcnow,
                 active_key_ttl: float = ACTIVE_KEY_TTL_SECONDS) -> None:
        self._box = SecretBox(root_secret, purpose=PURPOSE)
        self._clock = clock
        self._active_key_ttl = active_key_ttl
        self._private: dict[str, Ed25519PrivateKey] = {}
        self._public: dict[str, _PublicKey] = {}
        self._active: dict[uuid.UUID, tuple[str, float]] = {}  # chain -> (kid, deadline)

    # --- keys ---------------------------------------------------------------------------

    async def ensure_key(self, chain_id: uuid.UUID) -> SigningKeyInfo:
        """The chain's active key, created on first use.

        Race-safe: however many callers (and processes) do this at once, the chain ends
        up with exactly one active key (a partial unique index, and an insert that yields
        to it instead of failing). Joins the caller's write transaction if there is one.
        """
        row, _ = await self._ensure_row(chain_id)
        return self._info(row)

    async def rotate(self, chain_id: uuid.UUID, *,
                     max_code_lifetime: timedelta | None = None) -> str:
        """Retire the chain's active key and start a new one; returns the new kid.

        The retired key stays published for ``max_code_lifetime`` (the longest a code it
        signed can stay valid) plus the caches' slack; for ever when not given.
        """
        now = self._now()
        publish_until = (None if max_code_lifetime is None
                         else now + max_code_lifetime + timedelta(seconds=self._active_key_ttl))
        async with write_transaction():
            for _ in range(_CREATE_ATTEMPTS):
                await repo.retire_active(chain_id, now, publish_until)
                values, private = self._new_key(chain_id, now)
                # Not inserted: a concurrent rotation's key became active meanwhile (it
                # is retired on the next pass), or the random kid was taken.
                if await repo.insert_key_unless_taken(values):
                    break
            else:
                raise RuntimeError(f"could not create a signing key for chain {chain_id}")
        self._active.pop(chain_id, None)
        kid = str(values["kid"])
        if not in_write_transaction():  # committed: safe to remember
            self._remember(kid, chain_id, private, private.public_key())
        return kid

    async def published_keys(self, chain_id: uuid.UUID | None = None, *,
                             now: datetime | None = None) -> list[dict[str, str]]:
        """JWKs (RFC 8037) of the active keys and of retired keys still published."""
        moment = (now or self._now()).astimezone(UTC)
        rows = await repo.published_keys(chain_id, moment)
        return [jwk(row["kid"], row["chain_id"], row["public_key"]) for row in rows]

    # --- codes --------------------------------------------------------------------------

    async def sign(self, chain_id: uuid.UUID, kind: CodeKind, object_id: uuid.UUID,
                   not_after: datetime) -> str:
        """A code for ``object_id`` signed by the chain's active key, good up to and
        including ``not_after`` (an aware datetime; whole seconds, rounded down)."""
        code_kind, seconds = CodeKind(kind), unix_seconds(not_after)  # fail before any I/O
        kid, private = await self._signing_key(chain_id)
        payload_bytes = CodePayload(kind=code_kind, kid=bytes.fromhex(kid),
                                    object_id=object_id, not_after=seconds).to_bytes()
        return encode_raw(payload_bytes, private.sign(payload_bytes))

    async def sign_document(self, chain_id: uuid.UUID, domain: bytes,
                            document: bytes) -> tuple[str, bytes]:
        """The kid and Ed25519 signature of ``domain + document`` by the chain's active
        key (the one GET /keys publishes): a signed document (the offline bundle) an
        offline scanner checks against the JWK it caches, prefixing the same ``domain``.

        The domain separates the two uses of the key: it is ASCII starting ``o2o/`` and
        ending in a newline (e.g. ``b"o2o/offline-bundle/v1\\n"``), while a code's signed
        message is its 26-byte payload starting with the version byte 1. So a document's
        signature never verifies as a code, nor a code's as a document, whatever the
        document's bytes; and each kind of document names its own domain."""
        if not (domain.startswith(b"o2o/") and domain.endswith(b"\n") and domain.isascii()
                and b"\n" not in domain[:-1]):
            raise ValueError("a document's domain is one ASCII line starting o2o/")
        kid, private = await self._signing_key(chain_id)
        return kid, private.sign(domain + document)

    async def verify(self, text: str, *, now: datetime,
                     chain_id: uuid.UUID | None = None) -> VerifiedCode:
        """Check a code: form, known kid, signature, then (given) chain, then time.

        Bad form, unknown kid, bad signature or another chain's key → :class:`InvalidCode`;
        a genuine code past its time → :class:`CodeExpired`. Time is checked last, so a
        forged code learns nothing about it. Whether the code was already used is the
        caller's business.
        """
        payload, payload_bytes, signature = split(text)
        key = await self._public_key(payload.kid_hex)
        if key is None:
            raise InvalidCode("unknown signing key")
        try:
            key.key.verify(signature, payload_bytes)
        except InvalidSignature:
            raise InvalidCode("bad signature") from None
        if chain_id is not None and key.chain_id != chain_id:
            raise InvalidCode("the code belongs to another chain")
        if payload.not_after < unix_seconds(now):
            raise CodeExpired(f"the code expired at {payload.expires_at.isoformat()}")
        return VerifiedCode(payload=payload, chain_id=key.chain_id)

    # --- internals ----------------------------------------------------------------------

    def _now(self) -> datetime:
        return self._clock().astimezone(UTC)

    async def _signing_key(self, chain_id: uuid.UUID) -> tuple[str, Ed25519PrivateKey]:
        hit = self._active.get(chain_id)
        if hit is not None and hit[1] > time.monotonic():
            private = self._private.get(hit[0])
            if private is not None:
                return hit[0], private
        row, cacheable = await self._ensure_row(chain_id)
        kid = str(row["kid"])
        private = self._private.get(kid) or self._open(row)
        if cacheable:
            self._remember(kid, chain_id, private, private.public_key())
            self._active[chain_id] = (kid, time.monotonic() + self._active_key_ttl)
        return kid, private

    async def _ensure_row(self, chain_id: uuid.UUID) -> tuple[SigningKeyRow, bool]:
        """The active key's row, and whether it may be cached: not when this call created
        it inside the caller's transaction, which may still roll back."""
        row = await repo.active_key(chain_id)
        if row is not None:
            return row, True
        joined = in_write_transaction()
        for _ in range(_CREATE_ATTEMPTS):
            async with write_transaction():
                row = await repo.active_key(chain_id)  # re-check under the write lock
                if row is not None:
                    return row, True
                values, _ = self._new_key(chain_id, self._now())
                inserted = await repo.insert_key_unless_taken(values)
                # Lost to a concurrent creator: its key, committed, is now the active one.
                row = await repo.active_key(chain_id)
            if row is not None:
                return row, not (inserted and joined)
        raise RuntimeError(f"could not create a signing key for chain {chain_id}")

    def _new_key(self, chain_id: uuid.UUID,
                 now: datetime) -> tuple[SigningKeyRow, Ed25519PrivateKey]:
        private = Ed25519PrivateKey.generate()
        kid = secrets.token_bytes(KID_BYTES).hex()
        values: SigningKeyRow = {
            "id": uuid.uuid4(),
            "chain_id": chain_id,
            "kid": kid,
            "public_key": _b64url(private.public_key().public_bytes_raw()),
            "private_key_sealed": self._box.seal(private.private_bytes_raw(), kid),
            "status": ACTIVE,
            "created_at": now,
            "retired_at": None,
            "publish_until": None,
        }
        return values, private

    def _open(self, row: SigningKeyRow) -> Ed25519PrivateKey:
        try:
            raw = self._box.open(str(row["private_key_sealed"]), str(row["kid"]))
        except (InvalidTag, ValueError) as exc:
            raise SigningKeyUnavailable(
                f"the private key of kid {row['kid']} does not open: "
                "is O2O_SECRET_KEY the one it was created with?") from exc
        return Ed25519PrivateKey.from_private_bytes(raw)

    async def _public_key(self, kid: str) -> _PublicKey | None:
        cached = self._public.get(kid)
        if cached is not None:
            return cached
        row = await repo.key_by_kid(kid)
        if row is None:
            return None
        key = _PublicKey(chain_id=row["chain_id"],
                         key=Ed25519PublicKey.from_public_bytes(_unb64url(row["public_key"])))
        self._public[kid] = key
        return key

    def _remember(self, kid: str, chain_id: uuid.UUID, private: Ed25519PrivateKey,
                  public: Ed25519PublicKey) -> None:
        self._private[kid] = private
        self._public[kid] = _PublicKey(chain_id=chain_id, key=public)

    @staticmethod
    def _info(row: PublishedKeyRow) -> SigningKeyInfo:
        return SigningKeyInfo(kid=row["kid"], chain_id=row["chain_id"],
                              public_key=_unb64url(row["public_key"]), status=row["status"],
                              created_at=row["created_at"])
