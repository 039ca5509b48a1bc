"""QR images of codes decode back to the exact text with a real decoder (zbar)."""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from litestar import Litestar
from PIL import Image

from app.core.codes import CodeKind, qr
from app.core.runtime import Runtime

ZBARIMG = shutil.which("zbarimg")
RSVG = shutil.which("rsvg-convert")
needs_zbar = pytest.mark.skipif(
    ZBARIMG is None, reason="zbarimg is not installed (apt-get install zbar-tools)")
needs_rsvg = pytest.mark.skipif(
    RSVG is None, reason="rsvg-convert is not installed (apt-get install librsvg2-bin)")

VERSION_6_SIDE = 41  # a 148-character alphanumeric text at level M; byte mode needs version 8


def random_code() -> str:
    return "O2O1" + base64.b32encode(os.urandom(90)).decode()


def decode_png(path: Path) -> list[str]:
    assert ZBARIMG is not None
    result = subprocess.run(
        [ZBARIMG, "--raw", "--quiet", "-Sdisable", "-Sqrcode.enable", str(path)],
        capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, f"zbarimg found no QR code: {result.stderr}"
    return result.stdout.splitlines()


def decode_svg(svg: bytes, tmp_path: Path, name: str = "code") -> list[str]:
    assert RSVG is not None
    source, target = tmp_path / f"{name}.svg", tmp_path / f"{name}.png"
    source.write_bytes(svg)
    subprocess.run([RSVG, "--width", "400", "--background-color", "white",
                    "--output", str(target), str(source)], check=True, timeout=30)
    return decode_png(target)


@needs_zbar
@needs_rsvg
async def test_png_and_svg_of_a_signed_code_decode_to_it(client: httpx.AsyncClient,
                                                         app: Litestar,
                                                         tmp_path: Path) -> None:
    runtime: Runtime = app.state.runtime
    code = await runtime.signer.sign(uuid.uuid4(), CodeKind.VOUCHER, uuid.uuid4(),
                                     datetime.now(UTC) + timedelta(days=30))
    png = qr.png(code)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "code.png").write_bytes(png)
    assert decode_png(tmp_path / "code.png") == [code]

    svg = qr.svg(code)
    assert svg.startswith(b"<?xml") and b"<svg" in svg
    assert decode_svg(svg, tmp_path) == [code]


@needs_zbar
@needs_rsvg
def test_many_codes_decode(tmp_path: Path) -> None:
    """The fixed mask pattern must not make some codes unreadable."""
    for n in range(25):
        code = random_code()
        path = tmp_path / f"{n}.png"
        path.write_bytes(qr.png(code, scale=4))
        assert decode_png(path) == [code]
    for n in range(8):
        code = random_code()
        assert decode_svg(qr.svg(code), tmp_path, f"s{n}") == [code]


def test_alphanumeric_mode_error_correction_m_and_quiet_zone() -> None:
    code = random_code()
    modules = qr.matrix(code)
    assert len(modules) == VERSION_6_SIDE and all(len(r) == VERSION_6_SIDE for r in modules)

    image = Image.open(io.BytesIO(qr.png(code)))
    side = (VERSION_6_SIDE + 2 * qr.BORDER) * qr.PNG_SCALE
    assert image.size == (side, side) and image.mode == "1"
    # The quiet zone is 4 light modules all round; the finder pattern's corner is dark.
    pixels = image.load()
    assert pixels is not None
    quiet = qr.BORDER * qr.PNG_SCALE
    assert all(pixels[x, y] for x in range(side) for y in range(quiet))
    assert all(pixels[x, y] for x in range(quiet) for y in range(side))
    assert not pixels[quiet, quiet]

    svg = qr.svg(code).decode()
    assert f'viewBox="0 0 {VERSION_6_SIDE + 8} {VERSION_6_SIDE + 8}"' in svg
    assert f"M{qr.BORDER} {qr.BORDER}h7" in svg  # the top-left finder's first row


def test_text_outside_the_alphanumeric_set_is_refused() -> None:
    with pytest.raises(ValueError):
        qr.png(random_code().lower())
    with pytest.raises(ValueError):
        qr.svg("O2O1 ünïcode")


def test_cached_images_are_the_same_bytes() -> None:
    code = random_code()
    hits = qr.cached_png.cache_info().hits
    assert qr.cached_png(code) == qr.cached_png(code) == qr.png(code)
    assert qr.cached_png.cache_info().hits == hits + 1
    assert qr.cached_svg(code) == qr.svg(code)
