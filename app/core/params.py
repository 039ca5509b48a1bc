"""Explicit handler parameter markers (Litestar 2.23+ deprecates inferred ones)."""

from __future__ import annotations

from typing import Annotated

from litestar.di import NamedDependency
from litestar.params import HeaderParameter, QueryParameter

from app.core.auth import Principal
from app.core.idempotency import HEADER
from app.core.runtime import Runtime

Caller = NamedDependency[Principal]
"""The authenticated principal (dependency ``principal``)."""

RuntimeDep = NamedDependency[Runtime]
"""The process's shared objects (dependency ``runtime``)."""

IdempotencyKey = Annotated[str | None, HeaderParameter(
    name=HEADER, required=False, min_length=1, max_length=255, pattern=r"^[ -~]+$",
    description="1 to 255 printable ASCII characters: replays the first answer")]

MAX_OFFSET = 1_000_000
Offset = Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET,
                                       description="rows to skip (at most 1,000,000)")]
"""Paging offset; bounded so a huge number is a 400, not a database overflow."""
