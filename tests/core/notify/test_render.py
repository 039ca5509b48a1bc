"""What each event says, within WeChat's field rules, in the store's zone, in the chain's
locale (zh-CN and en)."""

# ruff: noqa: RUF001

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.core.notify import events
from app.core.notify.render import (
    benefit_words,
    character_string,
    check,
    money,
    render,
    thing,
    voucher_benefit,
    yuan,
)

CREATED = datetime(2026, 3, 8, 6, 59, tzinfo=UTC)


def test_field_rules() -> None:
    assert thing("A" * 20) == "A" * 20
    assert thing("染发 " * 10) == "染发 染发 染发 染发 染发 染发 染…"
    assert len(thing("染发 " * 10)) == 20
    assert thing("  ") == "-"
    assert thing("two\nlines") == "two lines"
    assert character_string("No. 8123 4567 8903 中文") == "No.812345678903"
    assert character_string("x" * 40) == "x" * 32
    assert (yuan(0), yuan(5), yuan(12_345), yuan(-12_345)) == ("0.00元", "0.05元", "123.45元",
                                                              "123.45元")


def test_times_are_in_the_store_zone_across_daylight_saving() -> None:
    """New York moves its clocks on 2026-03-08 at 02:00 local (07:00 UTC)."""
    data = {"service_name": "Cut", "store_name": "5th Ave",
            "timezone": "America/New_York"}
    before = render(events.BOOKING_REMINDER, {**data, "start": "2026-03-08T06:30:00Z"}, CREATED)
    after = render(events.BOOKING_REMINDER, {**data, "start": "2026-03-08T07:30:00Z"}, CREATED)
    assert before.fields["time2"] == "2026年3月8日 01:30"
    assert after.fields["time2"] == "2026年3月8日 03:30"
    assert after.text == "提醒：您预约的Cut（5th Ave）将于 3月8日 03:30 开始。"
    english = render(events.BOOKING_REMINDER, {**data, "start": "2026-03-08T07:30:00Z"},
                     CREATED, "en")
    assert english.text == "Reminder: Cut at 5th Ave starts at 8 Mar 03:30."
    # Without a store: the chain's customers are in China.
    card = render(events.CARD_ISSUED, {"card_name": "Club"}, CREATED)
    assert card.fields["time3"] == "2026年3月8日 14:59"


SHANGHAI: dict[str, str | int | None] = {"store_name": "静安店", "timezone": "Asia/Shanghai"}
NOW = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


def test_money_has_thousands_separators() -> None:
    assert (money(0), money(5), money(420_000), money(-8_800), money(123_456_789)) == (
        "¥0.00", "¥0.05", "¥4,200.00", "-¥88.00", "¥1,234,567.89")


@pytest.mark.parametrize("event,data,zh,en", [
    (events.CARD_ISSUED, {"card_name": "金卡", "card_number": "8123", **SHANGHAI},
     "您的金卡（卡号 8123）已在静安店开通。", "Your 金卡 card No. 8123 is ready at 静安店."),
    (events.VOUCHER_ISSUED, {"campaign_name": "周中 8 折", "benefit": "20% off (up to ¥1000.00)",
                             "valid_until": "2027-01-31T15:59:00+00:00"},
     "您获得一张优惠券：周中 8 折（8折，最多减 ¥1,000.00），有效期至 2027年1月31日 23:59。",
     "You received a voucher: 周中 8 折 (20% off (up to ¥1,000.00)), valid until "
     "31 Jan 2027 23:59."),
    (events.BOOKING_CONFIRMED, {"service_name": "剪发 Haircut",
                                "start": "2026-12-08T07:30:00Z", **SHANGHAI},
     "您预约的剪发 Haircut（静安店，12月8日 15:30）已确认。",
     "剪发 Haircut at 静安店 on 8 Dec 15:30 is confirmed."),
    (events.BOOKING_CONFIRMED, {"service_name": "剪发 Haircut", "start": "2026-12-09T02:00:00Z",
                                "previous_start": "2026-12-08T07:30:00Z", "rescheduled": 1,
                                **SHANGHAI},
     "您预约的剪发 Haircut（静安店）已从 12月8日 15:30 改到 12月9日 10:00。",
     "剪发 Haircut at 静安店 moved from 8 Dec 15:30 to 9 Dec 10:00."),
    (events.BOOKING_CANCELLED, {"service_name": "剪发", "start": "2026-12-08T07:30:00Z",
                                **SHANGHAI},
     "您预约的剪发（静安店，12月8日 15:30）已取消。",
     "剪发 at 静安店 on 8 Dec 15:30 is cancelled."),
    (events.BOOKING_REMINDER, {"service_name": "剪发", "start": "2026-12-08T07:30:00Z",
                               **SHANGHAI},
     "提醒：您预约的剪发（静安店）将于 12月8日 15:30 开始。",
     "Reminder: 剪发 at 静安店 starts at 8 Dec 15:30."),
    (events.REDEEMED, {"item": "十次卡", "amount_cents": 0, "visits_left": 1, **SHANGHAI},
     "十次卡于 12月6日 16:00 在静安店使用，剩余 1 次。",
     "十次卡 was used at 静安店 on 6 Dec 16:00, 1 visit left."),
    (events.REDEEMED, {"item": "满减券", "amount_cents": 420_000,
                       "at": "2026-12-06T02:00:00Z", **SHANGHAI},
     "满减券于 12月6日 10:00 在静安店使用：¥4,200.00。",
     "满减券 was used at 静安店 on 6 Dec 10:00: ¥4,200.00."),
    (events.BALANCE_CHANGED, {"card_name": "储值卡", "reason": "charge", "delta_cents": -8_800,
                              "balance_cents": 411_200, **SHANGHAI},
     "储值卡于 12月6日 16:00 在静安店消费 ¥88.00，余额 ¥4,112.00。",
     "储值卡: charge of ¥88.00 at 静安店 on 6 Dec 16:00. Balance ¥4,112.00."),
    (events.BALANCE_CHANGED, {"card_name": "储值卡", "reason": "top_up", "delta_cents": 500_000,
                              "balance_cents": 911_200},
     "储值卡于 12月6日 16:00 充值 ¥5,000.00，余额 ¥9,112.00。",
     "储值卡: top-up of ¥5,000.00 on 6 Dec 16:00. Balance ¥9,112.00."),
])
def test_every_event_in_both_locales(event: str, data: dict[str, str | int | None], zh: str,
                                     en: str) -> None:
    chinese, english = render(event, data, NOW), render(event, data, NOW, "en")
    assert chinese.text == zh
    assert english.text == en
    assert chinese.title != english.title
    assert chinese.fields.keys() == english.fields.keys()


def test_wechat_values_follow_the_locale() -> None:
    data = {"card_name": "储值卡", "reason": "charge", "delta_cents": -420_000,
            "balance_cents": 0, **SHANGHAI}
    zh, en = render(events.BALANCE_CHANGED, data, NOW), render(events.BALANCE_CHANGED, data,
                                                                NOW, "en")
    assert (zh.fields["thing2"], en.fields["thing2"]) == ("消费", "Charge")
    # amount and time are formats WeChat checks, the same in either locale.
    assert zh.fields["amount3"] == en.fields["amount3"] == "4200.00元"
    assert zh.fields["time5"] == en.fields["time5"] == "2026年12月6日 16:00"
    unnamed = render(events.BOOKING_CONFIRMED, {}, NOW)
    assert unnamed.fields["thing1"] == "服务"


def test_benefits_in_words() -> None:
    assert benefit_words("¥1200.00 off", "zh-CN") == "立减 ¥1,200.00"
    assert benefit_words("15% off", "zh-CN") == "8.5折"
    assert benefit_words("gift: 护发素", "zh-CN") == "赠品：护发素"
    assert benefit_words("free: Wash", "en") == "free: Wash"
    assert benefit_words("两人同行一人免单", "en") == "两人同行一人免单"


Data = dict[str, str | int | None]


def test_a_voucher_benefit_from_its_terms() -> None:
    """The cards domain writes the campaign's terms: the words come from them (money with
    separators, the minimum spend too); the English ``benefit`` is not read, unless the row
    is older than the terms."""
    cash: Data = {"kind": "cash", "value_cents": 120_000, "percent_off": None,
                  "max_discount_cents": None, "item_name": None, "min_spend_cents": 500_000,
                  "benefit": "ignored"}
    assert voucher_benefit(cash, "zh-CN") == "立减 ¥1,200.00，满 ¥5,000.00 可用"
    assert voucher_benefit(cash, "en") == "¥1,200.00 off, on ¥5,000.00 or more"
    discount: Data = {"kind": "discount", "value_cents": None, "percent_off": 15,
                      "max_discount_cents": 5_000, "item_name": None, "min_spend_cents": None}
    assert voucher_benefit(discount, "zh-CN") == "8.5折，最多减 ¥50.00"
    assert voucher_benefit(discount, "en") == "15% off (up to ¥50.00)"
    assert voucher_benefit({**discount, "max_discount_cents": None}, "en") == "15% off"
    gift: Data = {"kind": "gift", "item_name": "护发素", "min_spend_cents": 0}
    assert voucher_benefit(gift, "zh-CN") == "赠品：护发素"
    assert voucher_benefit({"kind": "service", "item_name": "Wash"}, "en") == "free: Wash"
    assert voucher_benefit({"kind": "service", "item_name": "Wash"}, "zh-CN") == "免费：Wash"
    # Rows written before the terms were kept: the English benefit, parsed.
    assert voucher_benefit({"benefit": "¥20.00 off"}, "zh-CN") == "立减 ¥20.00"
    # Terms that do not add up (a cash row without its value): the benefit as written.
    assert voucher_benefit({"kind": "cash", "benefit": "¥20.00 off"}, "en") == "¥20.00 off"
    worded = render(events.VOUCHER_ISSUED, {"campaign_name": "春季", **cash}, NOW)
    assert "立减 ¥1,200.00，满 ¥5,000.00 可用" in worded.text


def test_an_unknown_locale_is_the_default() -> None:
    assert render(events.CARD_ISSUED, {}, NOW, "fr").title == "会员卡已开通"  # type: ignore[arg-type]


def test_bad_data_renders_without_failing() -> None:
    """A delivery must never fail on data; emit already refused wrong types."""
    odd = render(events.BOOKING_CONFIRMED, {"start": "yesterday", "timezone": "Mars/Base"},
                 CREATED)
    assert odd.fields == {"thing1": thing("服务"), "time2": "-", "thing3": "-"}
    for event in events.ALL:
        assert render(event, {}, CREATED).title


@pytest.mark.parametrize("event,data", [
    ("card_lost", {}), (events.REDEEMED, {"amount_cents": 1.5}),
    (events.REDEEMED, {"amount_cents": True}), (events.REDEEMED, {"item": ["a"]})])
def test_check_refuses(event: str, data: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        check(event, data)  # type: ignore[arg-type]


@pytest.mark.parametrize("event,data,zh,en", [
    (events.VOUCHER_GIFT, {"campaign_name": "周中 8 折", "outcome": "accepted",
                           "friend_name": "小李"},
     "您赠送的周中 8 折已被小李领取。", "Your gift 周中 8 折 was accepted by 小李."),
    (events.VOUCHER_GIFT, {"campaign_name": "周中 8 折", "outcome": "returned"},
     "您赠送的周中 8 折无人领取，已退回您的账户。",
     "Nobody accepted your gift 周中 8 折: the voucher is yours again."),
])
def test_voucher_gift_in_both_locales(event: str, data: dict[str, str | int | None], zh: str,
                                      en: str) -> None:
    assert render(event, data, NOW).text == zh
    assert render(event, data, NOW, "en").text == en
