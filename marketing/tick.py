"""What a background tick of the marketing domain is given (marketing/runner.py runs
them). Its own module so that a sub-package's ``worker.py`` imports it without importing
the runner, which imports every worker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from app.core.codes.keys import CodeSigner
from app.core.settings import Settings


@dataclass(frozen=True, slots=True)
class Tick:
    """The process's code signer (issuing a voucher signs its code), the round's
    instant, and the settings."""

    signer: CodeSigner
    now: datetime
    settings: Settings


TickFn = Callable[[Tick], Awaitable[None]]
