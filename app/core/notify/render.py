"""What each event says, in the chain's locale (``zh-CN``, the default, or ``en``): a
title and text for the inbox, and the fields of its WeChat subscribe message.

Money reads ``¥4,200.00`` in both languages; times are shown in the store's zone
(``timezone`` in the data; the chain's customers are in China, so Asia/Shanghai when the
event has no store): ``12月8日 15:30`` / ``8 Dec 15:30``, with the year when it is not the
year of the event.

WeChat checks each value against its keyword's type: ``thing`` at most 20 characters,
``character_string`` at most 32 letters, digits and symbols, ``time`` a 24-hour time
(``2026年11月21日 09:30``, in either locale: it is a format, not words), ``amount`` a
number with at most two decimals and 元 (no thousands separator). Values are cut to fit,
never refused: a delivery must not fail on a long campaign name. The words in ``thing``
values (a reason, a fallback) follow the locale.

The keywords of each event's template (the chain picks templates with these keys):

================== ===========================================================
card_issued        thing1 card, character_string2 number, time3 issued
voucher_issued     thing1 campaign, thing2 benefit, time3 valid until
booking_confirmed  thing1 service, time2 start, thing3 store
booking_cancelled  thing1 service, time2 start, thing3 store
booking_reminder   thing1 service, time2 start, thing3 store
redeemed           thing1 item, amount2 amount, thing3 store, time4 at
balance_changed    thing1 card, thing2 reason, amount3 change, amount4 balance, time5 at
voucher_gift       thing1 campaign, thing2 outcome, time3 at
================== ===========================================================

A balance_changed of an online top-up (``reason`` online_top_up) or a refund (``refund``)
carries ``paid_cents`` and ``bonus_cents``: the text names the bonus part when there is one.

A booking_confirmed whose data has ``previous_start`` is a reschedule: it names the old
and the new time.
"""

# Chinese sentences use full-width punctuation on purpose.
# ruff: noqa: RUF001, RUF002

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.core.notify import events

Data = Mapping[str, str | int | None]
Locale = Literal["zh-CN", "en"]
LOCALES: Final[tuple[Locale, ...]] = ("zh-CN", "en")
DEFAULT_LOCALE: Final[Locale] = "zh-CN"
DEFAULT_ZONE = "Asia/Shanghai"
THING_MAX = 20
CHARACTER_STRING_MAX = 32
_NOT_CHARACTER_STRING = re.compile(r"[^\x21-\x7e]")
REASONS: Final[dict[Locale, dict[str, str]]] = {
    "zh-CN": {"top_up": "充值", "charge": "消费", "reversal": "退款",
              "online_top_up": "微信充值", "refund": "退款"},
    "en": {"top_up": "Top-up", "charge": "Charge", "reversal": "Refund",
           "online_top_up": "Online top-up", "refund": "Refund"},
}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def as_locale(value: object) -> Locale:
    """A stored or given locale, ``zh-CN`` for anything unknown."""
    return "en" if value == "en" else DEFAULT_LOCALE


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
    """Fen as people read it: ``420000`` -> ``¥4,200.00``, ``-8800`` -> ``-¥88.00``."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}¥{cents // 100:,}.{cents % 100:02d}"


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


def text_time(moment: datetime | None, locale: Locale = DEFAULT_LOCALE,
              year: int | None = None) -> str:
    """A time for a sentence; the year only when it is not ``year`` (the event's)."""
    if moment is None:
        return "-"
    same_year = year is not None and moment.year == year
    if locale == "en":
        day = f"{moment.day} {_MONTHS[moment.month - 1]}" + ("" if same_year
                                                              else f" {moment.year}")
        return f"{day} {moment:%H:%M}"
    day = ("" if same_year else f"{moment.year}年") + f"{moment.month}月{moment.day}日"
    return f"{day} {moment:%H:%M}"


# What cards.vouchers.benefit writes in ``benefit``: "¥20.00 off", "20% off (up to ¥50.00)",
# "gift: X", "free: X". Parsed only for rows written before the data carried the terms.
_CASH = re.compile(r"^¥([\d,]+)\.(\d\d) off$")
_PERCENT = re.compile(r"^(\d{1,2})% off(?: \(up to ¥([\d,]+)\.(\d\d)\))?$")
_ITEM = re.compile(r"^(gift|free): (.+)$")


def _cents(whole: str, part: str) -> int:
    return int(whole.replace(",", "")) * 100 + int(part)


def _zhe(percent_off: int) -> str:
    """20% off is 8折, 15% off 8.5折."""
    rest = 100 - percent_off
    return f"{rest // 10}折" if rest % 10 == 0 else f"{rest / 10:g}折"


def voucher_benefit(data: Data, locale: Locale) -> str:
    """A voucher_issued event's benefit in the locale's words, from the campaign's terms
    the cards domain writes (``kind``, ``value_cents``, ``percent_off``,
    ``max_discount_cents``, ``item_name``, ``min_spend_cents``); an older row without them
    has only the English ``benefit`` (:func:`benefit_words`)."""
    kind, zh = data.get("kind"), locale == "zh-CN"
    value, percent, cap = (data.get("value_cents"), data.get("percent_off"),
                           data.get("max_discount_cents"))
    item = data.get("item_name")
    if kind == "cash" and isinstance(value, int):
        words = f"立减 {money(value)}" if zh else f"{money(value)} off"
    elif kind == "discount" and isinstance(percent, int) and 0 < percent < 100:
        most = money(cap) if isinstance(cap, int) and cap > 0 else None
        if zh:
            words = _zhe(percent) + (f"，最多减 {most}" if most else "")
        else:
            words = f"{percent}% off" + (f" (up to {most})" if most else "")
    elif kind in ("gift", "service") and isinstance(item, str) and item:
        if zh:
            words = ("赠品：" if kind == "gift" else "免费：") + item
        else:
            words = f"{'gift' if kind == 'gift' else 'free'}: {item}"
    else:
        return benefit_words(str(data.get("benefit") or ""), locale)
    least = data.get("min_spend_cents")
    if isinstance(least, int) and least > 0:
        words += f"，满 {money(least)} 可用" if zh else f", on {money(least)} or more"
    return words


def benefit_words(benefit: str, locale: Locale) -> str:
    """The English benefit the cards domain wrote (rows from before the terms were in the
    data), in the locale's words (money with separators); another shape is shown as it
    is."""
    if match := _CASH.match(benefit):
        amount = money(_cents(match[1], match[2]))
        return f"立减 {amount}" if locale == "zh-CN" else f"{amount} off"
    if match := _PERCENT.match(benefit):
        percent = int(match[1])
        cap = money(_cents(match[2], match[3])) if match[2] else None
        if locale == "zh-CN":
            return _zhe(percent) + (f"，最多减 {cap}" if cap else "")
        return f"{percent}% off" + (f" (up to {cap})" if cap else "")
    if match := _ITEM.match(benefit):
        if locale == "zh-CN":
            return ("赠品：" if match[1] == "gift" else "免费：") + match[2]
        return f"{match[1]}: {match[2]}"
    return benefit


class _Reader:
    """Typed access to an event's data, forgiving at delivery time."""

    def __init__(self, data: Data, created_at: datetime, locale: Locale) -> None:
        self.data = data
        self.zone = _zone(data.get("timezone"))
        self.created_at = created_at
        self.locale = locale
        self.zh = locale == "zh-CN"

    def text(self, key: str, default: str = "") -> str:
        value = self.data.get(key)
        return default if value is None or value == "" else str(value)

    def number(self, key: str) -> int:
        value = self.data.get(key)
        return value if isinstance(value, int) else 0

    def time(self, key: str) -> datetime | None:
        return _local(self.data.get(key), self.zone)

    def when(self, moment: datetime | None) -> str:
        return text_time(moment, self.locale, self.created_at.astimezone(self.zone).year)

    @property
    def at(self) -> datetime:
        return _local(self.data.get("at"), self.zone) or self.created_at.astimezone(self.zone)

    @property
    def store(self) -> str:
        return self.text("store_name")

    def at_store(self) -> str:
        """`` at 静安店`` / ``在静安店``; empty without a store."""
        if not self.store:
            return ""
        return f"在{self.store}" if self.zh else f" at {self.store}"

    def pick(self, zh: str, en: str) -> str:
        return zh if self.zh else en


def _card_issued(r: _Reader) -> Rendered:
    card, number = r.text("card_name", r.pick("会员卡", "card")), r.text("card_number")
    if r.zh:
        text = f"您的{card}" + (f"（卡号 {number}）" if number else "") + f"已{r.at_store()}开通。"
    else:
        text = (f"Your {card} card" + (f" No. {number}" if number else "")
                + f" is ready{r.at_store()}.")
    return Rendered(r.pick("会员卡已开通", "Card issued"), text,
                    {"thing1": thing(card), "character_string2": character_string(number),
                     "time3": wechat_time(r.at)})


def _voucher_issued(r: _Reader) -> Rendered:
    campaign = r.text("campaign_name", r.pick("优惠券", "voucher"))
    benefit = voucher_benefit(r.data, r.locale)
    until = r.time("valid_until")
    if r.zh:
        text = f"您获得一张优惠券：{campaign}" + (f"（{benefit}）" if benefit else "")
        text += f"，有效期至 {r.when(until)}。" if until else "。"
    else:
        text = f"You received a voucher: {campaign}" + (f" ({benefit})" if benefit else "")
        text += f", valid until {r.when(until)}." if until else "."
    return Rendered(r.pick("获得优惠券", "Voucher received"), text,
                    {"thing1": thing(campaign), "thing2": thing(benefit),
                     "time3": wechat_time(until)})


def _booking_fields(r: _Reader, service: str, start: datetime | None) -> dict[str, str]:
    return {"thing1": thing(service), "time2": wechat_time(start), "thing3": thing(r.store)}


def _booking_where(r: _Reader, service: str, when: str | None = None) -> str:
    """``您预约的剪发（静安店，12月8日 15:30）`` / ``Haircut at 静安店``."""
    if r.zh:
        inside = "，".join(part for part in (r.store, when) if part)
        return f"您预约的{service}" + (f"（{inside}）" if inside else "")
    return f"{service}{r.at_store()}"


def _booking_confirmed(r: _Reader) -> Rendered:
    service = r.text("service_name", r.pick("服务", "your booking"))
    start, before = r.time("start"), r.time("previous_start")
    if before is not None:
        title = r.pick("预约已改期", "Booking rescheduled")
        text = r.pick(f"{_booking_where(r, service)}已从 {r.when(before)} 改到 {r.when(start)}。",
                      f"{_booking_where(r, service)} moved from {r.when(before)} to "
                      f"{r.when(start)}.")
    else:
        title = r.pick("预约已确认", "Booking confirmed")
        text = r.pick(f"{_booking_where(r, service, r.when(start))}已确认。",
                      f"{_booking_where(r, service)} on {r.when(start)} is confirmed.")
    return Rendered(title, text, _booking_fields(r, service, start))


def _booking_cancelled(r: _Reader) -> Rendered:
    service = r.text("service_name", r.pick("服务", "your booking"))
    start = r.time("start")
    return Rendered(r.pick("预约已取消", "Booking cancelled"),
                    r.pick(f"{_booking_where(r, service, r.when(start))}已取消。",
                           f"{_booking_where(r, service)} on {r.when(start)} is cancelled."),
                    _booking_fields(r, service, start))


def _booking_reminder(r: _Reader) -> Rendered:
    service = r.text("service_name", r.pick("服务", "your booking"))
    start = r.time("start")
    return Rendered(r.pick("预约提醒", "Booking reminder"),
                    r.pick(f"提醒：{_booking_where(r, service)}将于 {r.when(start)} 开始。",
                           f"Reminder: {_booking_where(r, service)} starts at "
                           f"{r.when(start)}."),
                    _booking_fields(r, service, start))


def _redeemed(r: _Reader) -> Rendered:
    item, amount = r.text("item", r.pick("您的优惠券", "your voucher")), r.number("amount_cents")
    visits = r.data.get("visits_left")
    if r.zh:
        text = f"{item}于 {r.when(r.at)} {r.at_store() or ''}使用".replace("  ", " ")
        if amount:
            text += f"：{money(amount)}"
        if isinstance(visits, int):
            text += f"，剩余 {visits} 次"
        text += "。"
    else:
        text = f"{item} was used{r.at_store()} on {r.when(r.at)}"
        if amount:
            text += f": {money(amount)}"
        if isinstance(visits, int):
            text += f", {visits} visit{'' if visits == 1 else 's'} left"
        text += "."
    return Rendered(r.pick("核销成功", "Redeemed"), text,
                    {"thing1": thing(item), "amount2": yuan(amount), "thing3": thing(r.store),
                     "time4": wechat_time(r.at)})


def _balance_changed(r: _Reader) -> Rendered:
    card, reason = r.text("card_name", r.pick("会员卡", "card")), r.text("reason")
    delta, balance = r.number("delta_cents"), r.number("balance_cents")
    label = REASONS[r.locale].get(reason, r.pick("余额变动", "Change"))
    # An online top-up or a refund carries its paid and bonus parts (payments/).
    paid, bonus = r.number("paid_cents"), r.number("bonus_cents")
    split = ""
    if bonus and reason == "online_top_up":
        split = r.pick(f"（实付 {money(paid)}，赠送 {money(bonus)}）",
                       f" ({money(paid)} paid, {money(bonus)} bonus)")
    elif bonus and reason == "refund":
        split = r.pick(f"（退回 {money(paid)}，扣回赠送 {money(bonus)}）",
                       f" ({money(paid)} back to you, {money(bonus)} bonus taken back)")
    if r.zh:
        text = (f"{card}于 {r.when(r.at)} {r.at_store()}{label} {money(abs(delta))}{split}，"
                f"余额 {money(balance)}。")
    else:
        text = (f"{card}: {label.lower()} of {money(abs(delta))}{split}{r.at_store()} on "
                f"{r.when(r.at)}. Balance {money(balance)}.")
    return Rendered(r.pick("余额变动", "Balance changed"), text,
                    {"thing1": thing(card), "thing2": thing(label), "amount3": yuan(delta),
                     "amount4": yuan(balance), "time5": wechat_time(r.at)})


def _voucher_gift(r: _Reader) -> Rendered:
    campaign = r.text("campaign_name", r.pick("优惠券", "voucher"))
    friend = r.text("friend_name")
    if r.data.get("outcome") == "accepted":
        outcome = r.pick("已被领取", "Accepted")
        text = r.pick(f"您赠送的{campaign}已被" + (friend or "好友") + "领取。",
                      f"Your gift {campaign} was accepted" + (f" by {friend}." if friend
                                                               else "."))
    else:
        outcome = r.pick("已退回", "Returned")
        text = r.pick(f"您赠送的{campaign}无人领取，已退回您的账户。",
                      f"Nobody accepted your gift {campaign}: the voucher is yours again.")
    return Rendered(r.pick("优惠券转赠", "Voucher gift"), text,
                    {"thing1": thing(campaign), "thing2": thing(outcome),
                     "time3": wechat_time(r.at)})


_RENDERERS: dict[str, Callable[[_Reader], Rendered]] = {
    events.CARD_ISSUED: _card_issued,
    events.VOUCHER_ISSUED: _voucher_issued,
    events.BOOKING_CONFIRMED: _booking_confirmed,
    events.BOOKING_CANCELLED: _booking_cancelled,
    events.BOOKING_REMINDER: _booking_reminder,
    events.REDEEMED: _redeemed,
    events.BALANCE_CHANGED: _balance_changed,
    events.VOUCHER_GIFT: _voucher_gift,
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


def render(event: str, data: Data, created_at: datetime,
           locale: Locale = DEFAULT_LOCALE) -> Rendered:
    return _RENDERERS[event](_Reader(data, created_at, as_locale(locale)))
