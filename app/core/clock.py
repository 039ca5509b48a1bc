"""The one place that reads the wall clock, so tests and rules agree on "now".

``O2O_CLOCK_FILE`` (development and tests only; settings refuse it in production): when
set, :func:`utcnow` answers the instant written in that file (RFC 3339, e.g.
``2027-02-28T16:00:00Z``) instead of the wall clock, re-read whenever the file's mtime
changes. Several server processes given the same file share one clock that a test moves
by rewriting the file (automations firing on a birthday a year ahead, in every process at
once). Unset, :func:`utcnow` costs one global check more than ``datetime.now``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

ENV_NAME = "O2O_CLOCK_FILE"

_file: Path | None = None
_seen: tuple[int, datetime] | None = None  # (mtime_ns, instant) of the last read


def utcnow() -> datetime:
    if _file is None:
        return datetime.now(UTC)
    return _file_instant(_file)


def use_clock_file(path: str | os.PathLike[str] | None) -> None:
    """Read "now" from ``path`` from here on (None: the wall clock again)."""
    global _file, _seen
    _file = None if path is None or str(path) == "" else Path(path)
    _seen = None


def set_clock_file_instant(path: str | os.PathLike[str], instant: datetime) -> None:
    """Write ``instant`` into a clock file atomically (a reader never sees half of it);
    the new file's mtime tells every process to read it again."""
    if instant.tzinfo is None:
        raise ValueError("the clock's instant needs an offset")
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}")
    tmp.write_text(instant.astimezone(UTC).isoformat())
    os.replace(tmp, target)


def parse_instant(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{ENV_NAME}: the instant needs an offset (RFC 3339): {text!r}")
    return value.astimezone(UTC)


def _file_instant(path: Path) -> datetime:
    global _seen
    # os.replace gives a new inode each write: the size and inode make a same-mtime
    # rewrite (coarse file system clocks) visible too.
    stat = path.stat()
    stamp = hash((stat.st_mtime_ns, stat.st_ino, stat.st_size))
    seen = _seen
    if seen is not None and seen[0] == stamp:
        return seen[1]
    instant = parse_instant(path.read_text())
    _seen = (stamp, instant)
    return instant


def _from_environment() -> None:
    # Never in production, even where a command skipped the settings' own refusal.
    if os.environ.get("O2O_ENV", "").strip() == "production":
        return
    use_clock_file(os.environ.get(ENV_NAME, "").strip() or None)


_from_environment()
