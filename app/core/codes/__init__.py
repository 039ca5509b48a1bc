"""Signed codes: the v1 text format, the chains' signing keys, QR images.

The cards domain (vouchers, card codes, redemption) and bookings call::

    signer: CodeSigner = runtime.signer
    text = await signer.sign(chain_id, CodeKind.VOUCHER, voucher_id, not_after)
    verified = await signer.verify(text, now=utcnow(), chain_id=principal.chain_id)
    png = qr.png(text)  # or qr.cached_png(text) for texts that never change

``parse``/``encode`` are the bare format; ``InvalidCode`` (422 ``invalid_code``) and
``CodeExpired`` (410 ``code_expired``) are the contract's errors.
"""

from app.core.codes.errors import CodeExpired, InvalidCode
from app.core.codes.format import CodeKind, CodePayload, encode, parse
from app.core.codes.keys import CodeSigner, SigningKeyInfo, SigningKeyUnavailable, VerifiedCode

__all__ = [
    "CodeExpired",
    "CodeKind",
    "CodePayload",
    "CodeSigner",
    "InvalidCode",
    "SigningKeyInfo",
    "SigningKeyUnavailable",
    "VerifiedCode",
    "encode",
    "parse",
]
