"""What a WeChat member card's history says of one ledger entry, in the chain's language:
``record_balance`` and ``record_bonus`` of ``/card/membercard/updateuser`` ("消费 ¥88.00
静安店", "Spent ¥88.00 at Jing'an"; "积分 +88 静安店", "+88 points at Jing'an").

WeChat shows these lines under the card's balance and points and allows at most 14
Chinese characters each; we count an ASCII character as half of one (the width WeChat
lays out), so an English line may run to 28. The amount comes first and is never cut:
the store's name is shortened to fit, then dropped. Money reads as the notifications
write it (``app.core.notify.render.money``).
"""

# Chinese words are full-width on purpose.

from __future__ import annotations

from typing import Final

from app.core.notify.render import Locale, money
from cards.rows import LedgerRow

RECORD_WIDTH: Final = 28  # half-width units: 14 Chinese characters

# The verb of a move of money, by ledger kind and direction ("-": money left the card).
_MONEY: Final[dict[Locale, dict[str, str]]] = {
    "zh-CN": {"charge": "消费", "top_up": "充值", "top_up_bonus": "充值赠送",
              "reversal": "撤销", "refund": "退款", "refund_reverted": "退款撤回",
              "opening_balance": "期初余额", "adjust": "调整", "+": "增加", "-": "扣减"},
    "en": {"charge": "Spent", "top_up": "Top-up", "top_up_bonus": "Bonus",
           "reversal": "Reversed", "refund": "Refund", "refund_reverted": "Refund undone",
           "opening_balance": "Opening", "adjust": "Adjusted", "+": "Added", "-": "Taken"},
}
_POINTS: Final[dict[Locale, str]] = {"zh-CN": "积分", "en": "points"}
_AT: Final[dict[Locale, str]] = {"zh-CN": "", "en": "at "}


def width(text: str) -> int:
    """Half-width units: 1 for ASCII, 2 for anything wider (Chinese, ¥ counts 1)."""
    return sum(1 if ord(ch) < 0x2E80 else 2 for ch in text)


def _fit(head: str, store: str | None, locale: Locale) -> str:
    """``head`` plus as much of the store's name as fits in :data:`RECORD_WIDTH`."""
    if not store:
        return head
    tail = f" {_AT[locale]}"
    room = RECORD_WIDTH - width(head) - width(tail)
    name = " ".join(store.split())
    if width(name) > room:
        while name and width(name) + 1 > room:
            name = name[:-1]
        name = name.rstrip() + "…" if name.strip() else ""
    return head + tail + name if name else head


def balance_text(entry: LedgerRow, locale: Locale, store: str | None) -> str | None:
    """The balance line of ``entry`` (None: it moved no money)."""
    cents = entry["delta_cents"]
    if cents == 0:
        return None
    words = _MONEY[locale]
    verb = words.get(entry["kind"]) or words["+" if cents > 0 else "-"]
    if entry["kind"] in ("charge", "refund"):
        amount = money(abs(cents))  # "Spent ¥88.00": the verb says which way
    else:
        amount = ("+" if cents > 0 else "") + money(cents)
    return _fit(f"{verb} {amount}", store, locale)


def bonus_text(entry: LedgerRow, locale: Locale, store: str | None) -> str | None:
    """The points line of ``entry`` (None: it moved no points)."""
    points = entry["delta_points"]
    if points == 0:
        return None
    signed = f"{points:+d}"
    head = f"{_POINTS[locale]} {signed}" if locale == "zh-CN" else f"{signed} {_POINTS[locale]}"
    return _fit(head, store, locale)


_STATUS: Final[dict[Locale, dict[str, str]]] = {
    "zh-CN": {"active": "正常", "frozen": "已冻结", "expired": "已过期", "cancelled": "已注销"},
    "en": {"active": "Active", "frozen": "Frozen", "expired": "Expired",
           "cancelled": "Cancelled"},
}


def status_text(status: str, locale: Locale) -> str:
    """The card's status as its face shows it (``custom_field_value2``)."""
    return _STATUS[locale].get(status, status)
