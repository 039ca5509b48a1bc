"""`o2o serve` with the bench routes (bench.routes) mounted: the server load_bench starts.

    python -m bench.server [--host H] [--port P] [--workers N] [--log-level L]

The same settings, processes and start-up as `o2o serve`; only the app factory differs,
so production's composition (app.asgi) holds no bench code.
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from litestar import Litestar

from app import asgi, cli
from bench.routes import BenchController

PAUSE_S = 0.005  # collections at least this long are logged


def log_gc_pauses(directory: str) -> None:
    """Append each collection of this process that takes PAUSE_S or more to
    ``directory``/gc-PID.log (epoch start, generation, wall ms, CPU ms), so that an
    open-loop run's slow requests can be lined up with the servers' pauses."""
    out = (Path(directory) / f"gc-{os.getpid()}.log").open("a", buffering=1)
    started = [0.0, 0.0]

    def timed(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[:] = time.perf_counter(), time.thread_time()
        elif (wall := time.perf_counter() - started[0]) >= PAUSE_S:
            cpu = time.thread_time() - started[1]
            out.write(f"{time.time() - wall:.4f} {info['generation']} {1000 * wall:.1f} "
                      f"{1000 * cpu:.1f}\n")

    gc.callbacks.append(timed)


def serve_app() -> Litestar:
    """Each server process's app (uvicorn's factory)."""
    if directory := os.environ.get("O2O_BENCH_GC_LOG"):
        log_gc_pauses(directory)
    return asgi.serve_app(routes=[BenchController])


def main(argv: Sequence[str] | None = None) -> int:
    args = cli.build_parser().parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    return cli.cmd_serve(args, factory="bench.server:serve_app")


if __name__ == "__main__":
    raise SystemExit(main())
