"""Explicit handler parameter markers (Litestar 2.23+ deprecates inferred ones)."""

from __future__ import annotations

from typing import Annotated

from litestar.di import NamedDependency
from litestar.params import HeaderParameter

from app.core.auth import Principal
from app.core.idempotency import HEADER
from app.core.runtime import Runtime

Caller = NamedDependency[Principal]
"""The authenticated principal (dependency ``principal``)."""

RuntimeDep = NamedDependency[Runtime]
"""The process's shared objects (dependency ``runtime``)."""

IdempotencyKey = Annotated[str | None, HeaderParameter(name=HEADER, required=False)]
