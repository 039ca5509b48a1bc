"""QR images of code texts: PNG and SVG, alphanumeric mode, error correction M, border 4.

The module matrix comes from ``qrcode``; the two images are drawn here from that matrix,
because qrcode's own image factories draw box by box and cost more than the matrix.

Measured on the development machine (2 cores, Python 3.11, qrcode 8.2) for a 148-character
code (version 6, 41x41 modules):

    qrcode, default (tries all 8 masks), PilImage:        38 PNG/s,  SvgPathImage 34 SVG/s
    qrcode, mask_pattern fixed, PilImage:                100 PNG/s,  SvgPathImage 67 SVG/s
    matrix only: all 8 masks 56/s; one fixed mask 310/s
    this module (fixed mask 4, version cached by length, own drawing): 218-272 PNG/s,
    276-287 SVG/s (bench/codes_bench.py; the machine was shared with other test runs)

So the mask is fixed. A fixed mask only forgoes qrcode's search for the pattern with the
lowest ISO 18004 penalty; every mask gives a valid QR code. Mask 4 had the lowest mean
(1336 vs 1336-1440) and lowest worst-case penalty (1552 vs 1552-1744) over 150 random codes,
and every code tried, of every mask, decoded with zbar (tests/core/test_qr.py decodes
real images with zbarimg).
"""

from __future__ import annotations

import io
from functools import lru_cache

import qrcode
import qrcode.constants
import qrcode.util
from PIL import Image

ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_M
BORDER = 4  # modules of quiet zone, as ISO 18004 asks
MASK_PATTERN = 4
PNG_SCALE = 8  # pixels per module: a version-6 code is (41 + 8) x 8 = 392 px square
CACHE_SIZE = 1024

# (text length, byte mode) -> smallest version that holds it
_versions: dict[tuple[int, bool], int] = {}


def matrix(text: str, *, link: bool = False) -> list[list[bool]]:
    """The QR modules of ``text`` (True = dark), without the quiet zone.

    ``text`` must be in the QR alphanumeric set (a code is: ``O2O1`` and upper-case
    base32); anything else is a ValueError, never a silently larger byte-mode code.
    ``link``: ``text`` is a URL (a referral or gift link), in byte mode (UTF-8).
    """
    mode = qrcode.util.MODE_8BIT_BYTE if link else qrcode.util.MODE_ALPHA_NUM
    data = qrcode.util.QRData(text.encode(), mode=mode)  # checks it
    key = (len(text.encode()), link)
    version = _versions.get(key)
    qr: qrcode.QRCode = qrcode.QRCode(  # type: ignore[type-arg]
        version=version, error_correction=ERROR_CORRECTION, border=BORDER,
        mask_pattern=MASK_PATTERN)
    qr.add_data(data)
    # The version depends only on the length (one mode, one error correction level):
    # found once per length, then given, which saves qrcode's two fitting passes.
    qr.make(fit=version is None)
    if version is None:
        _versions[key] = qr.version
    return [[bool(module) for module in row] for row in qr.modules]


def png(text: str, *, scale: int = PNG_SCALE, link: bool = False) -> bytes:
    """A PNG (1-bit greyscale) of the QR code of ``text`` (``link``: see :func:`matrix`)."""
    modules = matrix(text, link=link)
    side = len(modules) + 2 * BORDER
    pixels = bytearray(b"\xff" * (side * side))
    for y, row in enumerate(modules):
        start = (y + BORDER) * side + BORDER
        for x, dark in enumerate(row):
            if dark:
                pixels[start + x] = 0
    image = Image.frombytes("L", (side, side), bytes(pixels)).convert("1")
    if scale != 1:
        image = image.resize((side * scale, side * scale), Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def svg(text: str, *, link: bool = False) -> bytes:
    """An SVG of the QR code of ``text``: one path, one unit per module, scalable
    (``link``: see :func:`matrix`)."""
    modules = matrix(text, link=link)
    side = len(modules) + 2 * BORDER
    runs: list[str] = []
    for y, row in enumerate(modules):
        x, width = 0, len(row)
        while x < width:
            if not row[x]:
                x += 1
                continue
            start = x
            while x < width and row[x]:
                x += 1
            runs.append(f"M{start + BORDER} {y + BORDER}h{x - start}v1h-{x - start}z")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}" '
        f'width="{side * PNG_SCALE}" height="{side * PNG_SCALE}" shape-rendering="crispEdges">'
        f'<rect width="{side}" height="{side}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(runs)}"/></svg>\n'
    ).encode("ascii")


@lru_cache(maxsize=CACHE_SIZE)
def cached_png(text: str) -> bytes:
    """:func:`png`, remembered: for texts that never change (a voucher's code)."""
    return png(text)


@lru_cache(maxsize=CACHE_SIZE)
def cached_svg(text: str) -> bytes:
    """:func:`svg`, remembered: for texts that never change (a voucher's code)."""
    return svg(text)
