"""What each event says: a title and text for the inbox, and the fields of its WeChat
subscribe message.

WeChat checks each value against its keyword's type: ``thing`` at most 20 characters,
``character_string`` at most 32 letters, digits and symbols, ``time`` a 24-hour time
(``2026年11月21日 09:30``), ``amount`` a number with at most two decimals and 元. Values
are cut to fit, never refused: a delivery must not fail on a long campaign name. Times
are shown in the store's zone (``timezone`` in the data; the chain's customers are in
China, so Asia/Shanghai when the event has no store).

The keywords of each event's template (the chain picks templates with these keys):

================== ===========================================================
card_issued        thing1 card, character_string2 number, time3 issued
voucher_issued     thing1 campaign, thing2 benefit, time3 valid until
booking_confirmed  thing1 service, time2 start, thing3 store
booking_cancelled  thing1 service, time2 start, thing3 store
booking_reminder   thing1 service, time2 start, thing3 store
redeemed           thing1 item, amount2 amount, thing3 store, time4 at
balance_changed    thing1 card, thing2 reason, amount3 change, amount4 balance, time5 at
================== ===========================================================
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.core.notify import events

Data = Mapping[str, str | int | None]
DEFAULT_ZONE = "Asia/Shanghai"
THING_MAX = 20
CHARACTER_STRING_MAX = 32
_NOT_CHARACTER_STRING = re.compile(r"[^\x21-\x7e]")
REASONS = {"top_up": "Top-up", "charge": "Charge", "reversal": "Refund"}


@dataclass(frozen=True, slots=True)
class Rendered:
    title: str
    text: str
    fields: dict[str, str]  # WeChat keyword -> value


def thing(value: object) -> str:
    text = " ".join(str(value or "").split())
    if not text:
        return "-"
    return text if len(text) <= THING_MAX else text[: THING_MAX - 1] + "…"


def character_string(value: object) -> str:
    text = _NOT_CHARACTER_STRING.sub("", str(value or ""))[:CHARACTER_STRING_MAX]
    return text or "-"


def yuan(cents: int) -> str:
    """Fen as a WeChat amount: ``1250`` -> ``12.50元`` (no sign: the reason says it)."""
    cents = abs(cents)
    return f"{cents // 100}.{cents % 100:02d}元"


def money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}¥{cents // 100}.{cents % 100:02d}"


def _zone(name: object) -> ZoneInfo:
    try:
        return ZoneInfo(str(name)) if name else ZoneInfo(DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def _local(value: object, zone: ZoneInfo) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(zone)


def wechat_time(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return f"{moment.year}年{moment.month}月{moment.day}日 {moment:%H:%M}"


def text_time(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


class _Reader:
    """Typed access to an event's data, forgiving at delivery time."""

    def __init__(self, data: Data, created_at: datetime) -> None:
        self.data = data
        self.zone = _zone(data.get("timezone"))
        self.created_at = created_at

    def text(self, key: str, default: str = "") -> str:
        value = self.data.get(key)
        return default if value is None else str(value)

    def number(self, key: str) -> int:
        value = self.data.get(key)
        return value if isinstance(value, int) else 0

    def time(self, key: str) -> datetime | None:
        return _local(self.data.get(key), self.zone)

    @property
    def at(self) -> datetime:
        return _local(self.data.get("at"), self.zone) or self.created_at.astimezone(self.zone)

    @property
    def store(self) -> str:
        return self.text("store_name")

    def at_store(self) -> str:
        return f" at {self.store}" if self.store else ""


def _card_issued(r: _Reader) -> Rendered:
    card, number = r.text("card_name", "card"), r.text("card_number")
    return Rendered(
        "Card issued",
        f"Your {card} card" + (f" No. {number}" if number else "") + f" is ready{r.at_store()}.",
        {"thing1": thing(card), "character_string2": character_string(number),
         "time3": wechat_time(r.at)})


def _voucher_issued(r: _Reader) -> Rendered:
    campaign, benefit, until = r.text("campaign_name", "voucher"), r.text("benefit"), \
        r.time("valid_until")
    text = f"You received a voucher: {campaign}" + (f" ({benefit})" if benefit else "")
    text += f", valid until {text_time(until)}." if until else "."
    return Rendered("Voucher received", text,
                    {"thing1": thing(campaign), "thing2": thing(benefit),
                     "time3": wechat_time(until)})


def _booking(title: str, sentence: str) -> Callable[[_Reader], Rendered]:
    def render(r: _Reader) -> Rendered:
        service, start = r.text("service_name", "your booking"), r.time("start")
        text = sentence.format(service=service, where=r.at_store(), when=text_time(start))
        return Rendered(title, text, {"thing1": thing(service), "time2": wechat_time(start),
                                      "thing3": thing(r.store)})
    return render


def _redeemed(r: _Reader) -> Rendered:
    item, amount = r.text("item", "your voucher"), r.number("amount_cents")
    text = f"{item} was used{r.at_store()} on {text_time(r.at)}"
    if amount:
        text += f": {money(amount)}"
    visits = r.data.get("visits_left")
    if isinstance(visits, int):
        text += f", {visits} visits left"
    return Rendered("Redeemed", text + ".",
                    {"thing1": thing(item), "amount2": yuan(amount), "thing3": thing(r.store),
                     "time4": wechat_time(r.at)})


def _balance_changed(r: _Reader) -> Rendered:
    card, reason = r.text("card_name", "card"), r.text("reason")
    delta, balance = r.number("delta_cents"), r.number("balance_cents")
    label = REASONS.get(reason, "Change")
    text = (f"{card}: {label.lower()} of {money(abs(delta))}{r.at_store()} on "
            f"{text_time(r.at)}. Balance {money(balance)}.")
    return Rendered("Balance changed", text,
                    {"thing1": thing(card), "thing2": thing(label), "amount3": yuan(delta),
                     "amount4": yuan(balance), "time5": wechat_time(r.at)})


_RENDERERS: dict[str, Callable[[_Reader], Rendered]] = {
    events.CARD_ISSUED: _card_issued,
    events.VOUCHER_ISSUED: _voucher_issued,
    events.BOOKING_CONFIRMED: _booking("Booking confirmed",
                                       "{service}{where} on {when} is confirmed."),
    events.BOOKING_CANCELLED: _booking("Booking cancelled",
                                       "{service}{where} on {when} is cancelled."),
    events.BOOKING_REMINDER: _booking("Booking reminder",
                                      "Reminder: {service}{where} starts at {when}."),
    events.REDEEMED: _redeemed,
    events.BALANCE_CHANGED: _balance_changed,
}
assert set(_RENDERERS) == events.ALL


def check(event: str, data: Data) -> None:
    """Refuse what can never be delivered (a programming error of the emitting domain)."""
    if event not in _RENDERERS:
        raise ValueError(f"unknown notification event {event!r}")
    for key, value in data.items():
        if not isinstance(key, str) or not (value is None or isinstance(value, str | int)) \
                or isinstance(value, bool):
            raise ValueError(f"notification data {key!r} must be str, int or None")


def render(event: str, data: Data, created_at: datetime) -> Rendered:
    return _RENDERERS[event](_Reader(data, created_at))
