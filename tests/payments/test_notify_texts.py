"""What a member reads of an online top-up and a refund, in both languages, and the
fields of its WeChat subscribe message."""

# Chinese sentences use full-width punctuation on purpose.
# ruff: noqa: RUF001

from __future__ import annotations

from datetime import UTC, datetime

from app.core.notify.render import render

Data = dict[str, str | int | None]
AT = "2026-12-06T10:00:00+00:00"  # 18:00 in Shanghai


def test_online_top_up_names_paid_and_bonus() -> None:
    data: Data = {"card_name": "Prepaid", "reason": "online_top_up", "delta_cents": 55_000,
                  "paid_cents": 50_000, "bonus_cents": 5_000, "balance_cents": 60_000,
                  "at": AT}
    zh = render("balance_changed", data, datetime(2026, 12, 6, tzinfo=UTC), "zh-CN")
    assert "微信充值 ¥550.00（实付 ¥500.00，赠送 ¥50.00）" in zh.text
    assert "余额 ¥600.00" in zh.text
    assert zh.fields == {"thing1": "Prepaid", "thing2": "微信充值", "amount3": "550.00元",
                         "amount4": "600.00元", "time5": "2026年12月6日 18:00"}
    en = render("balance_changed", data, datetime(2026, 12, 6, tzinfo=UTC), "en")
    assert "online top-up of ¥550.00 (¥500.00 paid, ¥50.00 bonus)" in en.text
    assert en.fields["thing2"] == "Online top-up"
    plain = render("balance_changed", {**data, "bonus_cents": 0, "delta_cents": 50_000},
                   datetime(2026, 12, 6, tzinfo=UTC), "en")
    assert "bonus" not in plain.text and "¥500.00" in plain.text


def test_refund_names_what_was_taken_back() -> None:
    data: Data = {"card_name": "Prepaid", "reason": "refund", "delta_cents": -33_000,
                  "paid_cents": 30_000, "bonus_cents": 3_000, "balance_cents": 22_000,
                  "at": AT}
    zh = render("balance_changed", data, datetime(2026, 12, 6, tzinfo=UTC), "zh-CN")
    assert "退款 ¥330.00（退回 ¥300.00，扣回赠送 ¥30.00）" in zh.text
    en = render("balance_changed", data, datetime(2026, 12, 6, tzinfo=UTC), "en")
    assert "refund of ¥330.00 (¥300.00 back to you, ¥30.00 bonus taken back)" in en.text
    assert en.fields["amount3"] == "330.00元"
