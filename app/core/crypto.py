"""Sub-keys derived from O2O_SECRET_KEY, secrets at rest, staff password hashes.

Every purpose gets its own key (HKDF-SHA256 with the purpose as ``info``), so a leak of one
derived key never exposes another. Secrets at rest are AES-256-GCM with the owning
object's id as associated data, so a ciphertext copied onto another row fails to open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_SALT = b"o2o/v1"
_NONCE_BYTES = 12

# scrypt cost: n=2**14, r=8, p=1 is ~16 MiB and tens of ms per check on one core.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_SCRYPT_LEN = 32


@lru_cache(maxsize=64)
def derive_key(root_secret: str, purpose: str, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=_SALT,
                info=purpose.encode()).derive(root_secret.encode())


class SecretBox:
    """AES-GCM for secrets stored in the database."""

    def __init__(self, root_secret: str, purpose: str = "o2o/secrets-at-rest") -> None:
        self._aead = AESGCM(derive_key(root_secret, purpose))

    def seal(self, plaintext: bytes, associated: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext, associated.encode())
        return base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, token: str, associated: str) -> bytes:
        raw = base64.urlsafe_b64decode(token.encode())
        return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], associated.encode())


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            dklen=_SCRYPT_LEN)
    encoded_salt = base64.b64encode(salt).decode()
    encoded_digest = base64.b64encode(digest).decode()
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encoded_salt}${encoded_digest}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check; a malformed stored hash is simply a mismatch."""
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest_b64)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt_b64), n=int(n),
                                r=int(r), p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# Checked against when the username is unknown, so both answers take as long.
DUMMY_PASSWORD_HASH = hash_password("o2o-timing-equaliser")
