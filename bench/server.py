"""`o2o serve` with the bench routes (bench.routes) mounted: the server load_bench starts.

    python -m bench.server [--host H] [--port P] [--workers N] [--log-level L]

The same settings, processes and start-up as `o2o serve`; only the app factory differs,
so production's composition (app.asgi) holds no bench code.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from litestar import Litestar

from app import asgi, cli
from bench.routes import BenchController


def serve_app() -> Litestar:
    """Each server process's app (uvicorn's factory)."""
    return asgi.serve_app(routes=[BenchController])


def main(argv: Sequence[str] | None = None) -> int:
    args = cli.build_parser().parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    return cli.cmd_serve(args, factory="bench.server:serve_app")


if __name__ == "__main__":
    raise SystemExit(main())
