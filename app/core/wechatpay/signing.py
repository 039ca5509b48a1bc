"""WeChat Pay API v3 signatures and resource encryption (``cryptography``, no I/O).

The strings follow WeChat Pay's "签名生成" / "签名验证" rules (and agree with the
``wechatpayv3`` package's ``build_authorization``, ``rsa_sign``, ``rsa_verify`` and
``aes_decrypt``):

- a request is signed with the merchant's private key, SHA256withRSA (PKCS#1 v1.5), over
  ``METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n`` (URL = path and query as sent; BODY empty for
  a GET) and sent as ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",
  signature="…",timestamp="…",serial_no="…"``;
- an answer or a notice is signed by WeChat Pay over ``TIMESTAMP\\nNONCE\\nBODY\\n`` (from
  ``Wechatpay-Timestamp``, ``Wechatpay-Nonce`` and the raw body), ``Wechatpay-Signature``
  in base64, ``Wechatpay-Serial`` naming the key;
- a notice's ``resource`` is AEAD_AES_256_GCM with the APIv3 key: ``nonce`` (12 ASCII
  characters) and ``associated_data`` as UTF-8, ``ciphertext`` base64 of ciphertext + tag;
- ``getBrandWCPayRequest``'s ``paySign`` signs ``appId\\ntimeStamp\\nnonceStr\\npackage\\n``.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import string
from functools import lru_cache

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SCHEMA = "WECHATPAY2-SHA256-RSA2048"
SIGNATURE_TYPE = SCHEMA  # the value of Wechatpay-Signature-Type
ALGORITHM = "AEAD_AES_256_GCM"
_NONCE_ALPHABET = string.ascii_letters + string.digits


def nonce_str(length: int = 32) -> str:
    """A random string of letters and digits (WeChat Pay's nonce_str: at most 32)."""
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(length))


def sign(private_key: RSAPrivateKey, message: bytes | str) -> str:
    """SHA256withRSA (PKCS#1 v1.5) over ``message``, base64."""
    data = message.encode() if isinstance(message, str) else message
    return base64.b64encode(
        private_key.sign(data, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


def verify(public_key: RSAPublicKey, message: bytes | str, signature_b64: str) -> bool:
    data = message.encode() if isinstance(message, str) else message
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        public_key.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def request_message(method: str, url: str, timestamp: str, nonce: str, body: str) -> str:
    """The string a request's signature covers (``url``: path and query)."""
    return f"{method}\n{url}\n{timestamp}\n{nonce}\n{body}\n"


def answer_message(timestamp: str, nonce: str, body: bytes) -> bytes:
    """The bytes an answer's or a notice's signature covers (the raw body as received)."""
    return f"{timestamp}\n{nonce}\n".encode() + body + b"\n"


def authorization(*, mchid: str, serial_no: str, private_key: RSAPrivateKey, method: str,
                  url: str, body: str, timestamp: str, nonce: str) -> str:
    """The ``Authorization`` header value of one request."""
    signature = sign(private_key, request_message(method, url, timestamp, nonce, body))
    return (f'{SCHEMA} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
            f'timestamp="{timestamp}",serial_no="{serial_no}"')


def parse_authorization(header: str) -> dict[str, str] | None:
    """The fields of an ``Authorization`` header (None: not this schema)."""
    schema, _, rest = header.partition(" ")
    if schema != SCHEMA:
        return None
    fields: dict[str, str] = {}
    for part in rest.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep or len(value) < 2 or value[0] != '"' or value[-1] != '"':
            return None
        fields[key] = value[1:-1]
    return fields


def decrypt_resource(apiv3_key: bytes, *, nonce: str, ciphertext: str,
                     associated_data: str) -> bytes:
    """Decrypt a notice resource; raises ``ValueError`` when it does not authenticate."""
    try:
        data = base64.b64decode(ciphertext, validate=True)
        return AESGCM(apiv3_key).decrypt(nonce.encode(), data, associated_data.encode())
    except (InvalidTag, binascii.Error, ValueError) as exc:
        raise ValueError("the resource does not decrypt with the APIv3 key") from exc


def encrypt_resource(apiv3_key: bytes, plaintext: bytes, *, associated_data: str,
                     nonce: str | None = None) -> dict[str, str]:
    """A notice ``resource`` object (what WeChat Pay sends; used by the stand-in)."""
    nonce = nonce or nonce_str(12)
    data = AESGCM(apiv3_key).encrypt(nonce.encode(), plaintext, associated_data.encode())
    return {"algorithm": ALGORITHM, "ciphertext": base64.b64encode(data).decode("ascii"),
            "associated_data": associated_data, "nonce": nonce}


def pay_sign(private_key: RSAPrivateKey, *, app_id: str, timestamp: str, nonce: str,
             package: str) -> str:
    """``paySign`` of ``getBrandWCPayRequest`` (signType ``RSA``)."""
    return sign(private_key, f"{app_id}\n{timestamp}\n{nonce}\n{package}\n")


def _pem(text: str, label: str) -> bytes:
    """Accept a PEM, or the bare base64 body some consoles hand out."""
    text = text.strip()
    if not text.startswith("-----BEGIN"):
        body = "".join(text.split())
        text = f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"
    return text.encode()


@lru_cache(maxsize=64)
def load_private_key(pem: str) -> RSAPrivateKey:
    """The merchant's RSA private key from PEM (PKCS#8 or PKCS#1); ``ValueError`` if it is
    not one. Cached: parsing checks the key, which costs milliseconds."""
    try:
        key = serialization.load_pem_private_key(_pem(pem, "PRIVATE KEY"), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError("not an unencrypted PEM private key") from exc
    if not isinstance(key, RSAPrivateKey) or key.key_size < 2048:
        raise ValueError("not an RSA private key of at least 2048 bits")
    return key


@lru_cache(maxsize=64)
def load_public_key(pem: str) -> RSAPublicKey:
    """WeChat Pay's public key (``pub_key.pem`` of the public-key scheme); ``ValueError``
    if it is not an RSA public key."""
    try:
        key = serialization.load_pem_public_key(_pem(pem, "PUBLIC KEY"))
    except (ValueError, TypeError) as exc:
        raise ValueError("not a PEM public key") from exc
    if not isinstance(key, RSAPublicKey) or key.key_size < 2048:
        raise ValueError("not an RSA public key of at least 2048 bits")
    return key


def private_key_pem(key: RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def public_key_pem(key: RSAPublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
