"""Throughput of the signed codes on this machine: sign, verify, parse, QR PNG and SVG.

    .venv/bin/python -m bench.codes_bench [--seconds 2]

Sign and verify run with warm caches (the steady state of a server process: the active
key and the public keys are in memory), against a scratch SQLite database. One core,
one event loop. The Ed25519 check alone is also timed in one thread and in two at once
(cryptography releases the GIL for it). Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import qrcode
import qrcode.constants
import qrcode.util
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from qrcode.image.pil import PilImage
from qrcode.image.svg import SvgPathImage

from app.core.codes import CodeKind, CodeSigner, parse, qr
from app.core.db import bind_tables, close_engine, make_engine, prepare_engine
from app.core.tables import SigningKey

SECRET = "bench-secret-0123456789abcdefghijklmnopqrstuvwxyz"


def rate(seconds: float, operation: Callable[[], object]) -> float:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(20):
            operation()
        count += 20
    return count / elapsed


def threads_rate(seconds: float, threads: int, operation: Callable[[], object]) -> float:
    """Operations per second of ``threads`` threads running ``operation`` at once."""
    counts = [0] * threads

    def loop(index: int) -> None:
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(20):
                operation()
            counts[index] += 20

    workers = [threading.Thread(target=loop, args=(n,)) for n in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - start)


async def arate(seconds: float, operation: Callable[[], Awaitable[object]]) -> float:
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(50):
            await operation()
        count += 50
    return count / elapsed


def qrcode_default(text: str, factory: type[PilImage] | type[SvgPathImage]) -> bytes:
    """What qrcode does out of the box (all 8 masks tried, its own image factory)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4,
                         image_factory=factory)
    code.add_data(qrcode.util.QRData(text.encode(), mode=qrcode.util.MODE_ALPHA_NUM))
    code.make(fit=True)
    out = io.BytesIO()
    code.make_image().save(out)
    return out.getvalue()


async def main(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{os.path.join(scratch, 'bench.sqlite3')}")
        bind_tables(engine, [SigningKey])
        await prepare_engine(engine)
        await SigningKey.create_table().run()  # type: ignore[no-untyped-call]
        try:
            signer = CodeSigner(SECRET)
            chain, object_id = uuid.uuid4(), uuid.uuid4()
            not_after = datetime.now(UTC) + timedelta(days=1)
            now = datetime.now(UTC)
            code = await signer.sign(chain, CodeKind.CARD, object_id, not_after)
            await signer.verify(code, now=now)  # warm the caches
            private = Ed25519PrivateKey.generate()
            public, message = private.public_key(), code.encode()
            signature = private.sign(message)

            def check() -> None:
                public.verify(signature, message)

            rows = [
                ("code sign (warm caches)", await arate(
                    seconds, lambda: signer.sign(chain, CodeKind.CARD, object_id, not_after))),
                ("code verify (warm caches)", await arate(
                    seconds, lambda: signer.verify(code, now=now))),
                ("code parse (format only)", rate(seconds, lambda: parse(code))),
                ("Ed25519 verify alone, 1 thread", threads_rate(seconds, 1, check)),
                ("Ed25519 verify alone, 2 threads at once", threads_rate(seconds, 2, check)),
                ("QR PNG (app.core.codes.qr)", rate(seconds, lambda: qr.png(code))),
                ("QR SVG (app.core.codes.qr)", rate(seconds, lambda: qr.svg(code))),
                ("QR PNG (qrcode defaults, for comparison)",
                 rate(seconds, lambda: qrcode_default(code, PilImage))),
                ("QR SVG (qrcode defaults, for comparison)",
                 rate(seconds, lambda: qrcode_default(code, SvgPathImage))),
            ]
        finally:
            await close_engine(engine)
    width = max(len(name) for name, _ in rows)
    print(f"{'operation':<{width}}  {'per second':>12}  {'µs each':>10}")
    for name, per_second in rows:
        print(f"{name:<{width}}  {per_second:>12,.0f}  {1e6 / per_second:>10,.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    asyncio.run(main(parser.parse_args().seconds))
