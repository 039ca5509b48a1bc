"""Summarise py-spy raw profiles (collapsed stacks) from `load_bench.py --profile DIR`.

    .venv/bin/python bench/profile_summary.py DIR/postgres-1w-redeem.txt [--top 25]

Prints, as shares of all samples of the server's processes: time by layer (our code,
Piccolo, asyncpg/aiosqlite/sqlite3, Litestar, uvicorn/httptools, asyncio, idle), then the
functions with the most inclusive time ("in the stack") and the most self time.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

# Frame text looks like "function (path/to/module.py:123)".
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
# A frame's file is relative to its sys.path entry: "litestar/app.py", "cards/service.py".
LAYERS = [
    ("piccolo", ("piccolo/",)),
    ("asyncpg (Cython protocol included)", ("asyncpg/",)),
    ("sqlite", ("aiosqlite/", "sqlite3/")),
    ("litestar", ("litestar/",)),
    ("msgspec", ("msgspec/",)),
    ("uvicorn", ("uvicorn/",)),
    ("jwt", ("jwt/",)),
    ("cryptography", ("cryptography/",)),
    ("o2o code", ("app/", "cards/", "stores/", "bookings/")),
    ("threads (executor workers)", ("concurrent/futures/", "threading.py")),
    ("event loop (uvloop, callbacks)", ("asyncio/",)),
]


def frame_parts(frame: str) -> tuple[str, str]:
    match = FRAME.match(frame.strip())
    if not match:
        return frame.strip(), ""
    return match["func"], match["file"]


def short(frame: str) -> str:
    func, file = frame_parts(frame)
    for marker in ("site-packages/", "wt-perf/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{func} ({file})"


def layer_of(frames: list[str]) -> str:
    """The layer of the innermost frame that belongs to a known layer."""
    for frame in reversed(frames):
        file = frame_parts(frame)[1]
        for name, prefixes in LAYERS:
            if file.startswith(prefixes):
                return name
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    total = 0
    layers: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    for line in args.profile.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f and not f.startswith("process ")
                  and not f.startswith("thread ")]
        total += count
        layers[layer_of(frames)] += count
        for name in {short(f) for f in frames}:
            inclusive[name] += count
        if frames:
            self_time[short(frames[-1])] += count
    if not total:
        raise SystemExit("no samples")
    print(f"{total} samples")
    print("\nby layer (innermost known frame):")
    for name, count in layers.most_common():
        print(f"  {100 * count / total:5.1f}%  {name}")
    for title, counter in (("inclusive", inclusive), ("self", self_time)):
        print(f"\ntop {args.top} {title}:")
        for name, count in counter.most_common(args.top):
            print(f"  {100 * count / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
