"""The dashboard's overview in a real browser: the CSV honours the store filter, date
presets, the comparison with the previous period, the stores side by side, top services,
cohorts, repeat and no-show rates, and charts that say what they show."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from tests.web.conftest import Demo, screenshot
from tests.web.test_admin_views import open_dashboard


def test_csv_export_honours_the_store_filter(demo_server: Demo, context: Any) -> None:
    """Wrong 5: the CSV ignored the dashboard's store filter."""
    page = context.new_page()
    open_dashboard(page, demo_server)
    page.select_option("#store", demo_server.store_id)
    page.click("#apply")
    with page.expect_download() as info:
        page.click("#csv")
    download = info.value
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text("utf-8"))))
    assert rows, "the file has rows"
    assert {row["store_id"] for row in rows} == {demo_server.store_id}
    assert demo_server.store_id in download.suggested_filename


def _today(demo: Demo) -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    stores = demo.api("GET", "/stores", demo.operator_token)
    zone = (stores["items"] if isinstance(stores, dict) else stores)[0]["timezone"]
    return datetime.now(ZoneInfo(zone)).date().isoformat()


def test_presets_and_the_previous_period(demo_server: Demo, context: Any) -> None:
    from datetime import date, timedelta

    from playwright.sync_api import expect

    page = context.new_page()
    open_dashboard(page, demo_server)
    today = date.fromisoformat(_today(demo_server))
    page.click("[data-preset=last30]")
    expect(page.locator("[data-preset=last30]")).to_have_attribute("aria-pressed", "true")
    assert page.input_value("#from") == (today - timedelta(days=29)).isoformat()
    assert page.input_value("#to") == today.isoformat()

    page.click("[data-preset=lastMonth]")
    first_this = today.replace(day=1)
    last_prev = first_this - timedelta(days=1)
    expect(page.locator("#from")).to_have_value(last_prev.replace(day=1).isoformat())
    assert page.input_value("#to") == last_prev.isoformat()

    # A redemption today: "today" against yesterday shows the difference on the tile.
    page.click("[data-preset=today]")
    expect(page.locator("#from")).to_have_value(today.isoformat())
    yesterday = (today - timedelta(days=1)).isoformat()
    now = demo_server.api("GET", "/stats/overview", demo_server.operator_token,
                          params={"from": today.isoformat(), "to": today.isoformat()})
    before = demo_server.api("GET", "/stats/overview", demo_server.operator_token,
                             params={"from": yesterday, "to": yesterday})
    diff = now["redemptions"]["count"] - before["redemptions"]["count"]
    tile = page.locator("[data-stat=redemptions_count]")
    expect(tile.locator(".value")).to_have_text(str(now["redemptions"]["count"]))
    expect(tile.locator(".delta")).to_have_attribute("data-delta", str(diff))
    assert "previous" in (tile.locator(".delta").text_content() or "")  # for screen readers
    # the previous period is told in words above the tiles
    expect(page.locator("#compared")).to_contain_text("previous period")


def test_rates_stores_services_cohorts_and_charts_say_what_they_show(
        demo_server: Demo, context: Any) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    open_dashboard(page, demo_server)
    page.click("[data-preset=last30]")
    expect(page.locator("[data-preset=last30]")).to_have_attribute("aria-pressed", "true")
    frm, to = page.input_value("#from"), page.input_value("#to")
    served = demo_server.api("GET", "/stats/overview", demo_server.operator_token,
                             params={"from": frm, "to": to})
    rate = f"{served['members']['repeat_rate'] * 100:.1f}%"
    expect(page.locator("[data-stat=repeat_rate] .value")).to_have_text(rate)
    no_show = f"{served['bookings']['no_show_rate'] * 100:.1f}%"
    expect(page.locator("[data-stat=no_show_rate] .value")).to_have_text(no_show)

    stores = demo_server.api("GET", "/stats/stores", demo_server.operator_token,
                             params={"from": frm, "to": to})["stores"]
    rows = page.locator("#store-compare tbody tr")
    expect(rows).to_have_count(len(stores))
    assert page.locator(f"[data-store-row='{stores[0]['store_id']}'] th").inner_text() \
        == stores[0]["name"]
    services = demo_server.api("GET", "/stats/services", demo_server.operator_token,
                               params={"from": frm, "to": to})["services"]
    expect(page.locator("#top-services tbody tr")).to_have_count(len(services))
    page.wait_for_selector("#cohorts h2")
    assert page.locator("#cohorts th").count() >= 3  # joined, members, month 0

    value_chart = page.locator("[data-metric=redemption_value]")
    assert "(¥)" in value_chart.locator("h3").inner_text()
    label = value_chart.locator("svg[role=img]").get_attribute("aria-label")
    assert label and "Redeemed value" in label and ("¥" in label or "zero" in label)
    assert "(count)" in page.locator("[data-metric=redemptions] h3").inner_text()
    assert page.locator("[data-metric=redemptions] svg text.unit").text_content() == "count"
    for svg in page.locator("svg.chart").all():
        assert svg.get_attribute("role") == "img" and svg.get_attribute("aria-label")
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "admin-overview-stores", full_page=True)


def test_a_custom_range_too_long_is_told_on_its_field(demo_server: Demo, context: Any) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    open_dashboard(page, demo_server)
    page.fill("#from", "2024-01-01")
    page.fill("#to", "2025-06-30")
    page.click("#apply")
    expect(page.locator("#to")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#to-error")).to_have_text("To: 366 days at most")
    expect(page.locator("[data-preset=last7]")).to_have_attribute("aria-pressed", "false")
    page.fill("#to", "2024-01-31")
    page.click("#apply")
    expect(page.locator("#to")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#compared")).to_contain_text("2023")  # December 2023 before it
