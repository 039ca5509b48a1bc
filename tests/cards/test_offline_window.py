"""The offline window (issue 15, item 1): POST /redemptions/sync trusts a scanner's clock
only inside the chain's window (default 24 h, PATCH /chain), judges each item at its
redeemed_at, records it at the upload, and never changes a day that is over."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import Any

import httpx
import pytest

from app.core.clock import utcnow
from cards import redemption, sync
from cards.tables import Campaign, Redemption, Voucher
from tests.cards.test_vouchers import SHANGHAI, Vouchers
from tests.world import World

API = "/api/v1"


@pytest.fixture
def v(client: httpx.AsyncClient, world: World) -> Vouchers:
    return Vouchers(client, world)


async def old_campaign(v: Vouchers, **body: Any) -> dict[str, Any]:
    """A campaign running since 30 days ago, for a week more, 10 vouchers a member."""
    return await v.campaign(per_member_limit=10,
                            valid_from=(utcnow() - timedelta(days=30)).isoformat(), **body)


async def claim(v: Vouchers, campaign: dict[str, Any]) -> dict[str, Any]:
    response = await v.claim(campaign["id"])
    assert response.status_code == 201, response.text
    return dict(response.json())


def item(code: str, at: datetime, ref: str, amount: int | None = 5_000) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "redeemed_at": at.isoformat(), "client_ref": ref}
    if amount is not None:
        body["amount_cents"] = amount
    return body


async def synced(v: Vouchers, *items: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    response = await v.sync(list(items))
    assert response.status_code == 200, response.text
    return {r["client_ref"]: (r["status"], r.get("code")) for r in response.json()["results"]}


async def set_window(v: Vouchers, minutes: int) -> httpx.Response:
    return await v.client.patch(f"{API}/chain", json={"offline_window_minutes": minutes},
                                headers=v.operator)


async def count(voucher: dict[str, Any]) -> int:
    return int(await Redemption.count().where(
        Redemption.object_id == uuid.UUID(voucher["id"])).run())


async def test_old_and_future_scans_are_outside_the_window(v: Vouchers) -> None:
    campaign = await old_campaign(v)
    old, future, skewed, fine = [await claim(v, campaign) for _ in range(4)]
    now = utcnow()
    results = await synced(
        v, item(old["code"], now - timedelta(days=20), "twenty-days"),
        item(future["code"], now + timedelta(minutes=10), "future"),
        item(skewed["code"], now + timedelta(seconds=60), "clock-ahead"),  # inside the skew
        item(fine["code"], now - timedelta(hours=23), "yesterday"))
    assert results == {"twenty-days": ("rejected", "offline_window_exceeded"),
                       "future": ("rejected", "offline_window_exceeded"),
                       "clock-ahead": ("accepted", None), "yesterday": ("accepted", None)}
    assert (await v.read(old["id"]))["status"] == "issued"
    assert (await v.read(future["id"]))["status"] == "issued"
    assert await count(old) == 0


async def test_an_expired_voucher_is_not_accepted_by_backdating(v: Vouchers) -> None:
    campaign = await old_campaign(v)
    lapsed, signed_out, recent = [await claim(v, campaign) for _ in range(3)]
    now = utcnow()
    # The voucher's record ended three days ago (its code's signed time is still ahead):
    # online it answers 410.
    await Voucher.update({Voucher.valid_until: now - timedelta(days=3)}).where(
        Voucher.id == uuid.UUID(lapsed["id"])).run()
    online = await v.redeem(lapsed["code"], amount=5_000)
    assert (online.status_code, online.json()["code"]) == (410, "code_expired")
    # A code whose signed time ended two days ago, of a voucher still valid on record.
    stale = await v.sign(signed_out["id"], now - timedelta(days=2))
    # The voucher's record ended an hour ago: scanned offline two hours ago, in time.
    await Voucher.update({Voucher.valid_until: now - timedelta(hours=1)}).where(
        Voucher.id == uuid.UUID(recent["id"])).run()
    results = await synced(
        v, item(lapsed["code"], now - timedelta(days=4), "backdated"),
        item(lapsed["code"], now - timedelta(hours=1), "after-its-end"),
        item(stale, now - timedelta(days=3), "stale-code"),
        item(recent["code"], now - timedelta(hours=2), "in-time"))
    assert results == {"backdated": ("rejected", "offline_window_exceeded"),
                       "after-its-end": ("rejected", "code_expired"),
                       "stale-code": ("rejected", "offline_window_exceeded"),
                       "in-time": ("accepted", None)}
    assert await count(lapsed) + await count(signed_out) == 0
    # Judged at its redeemed_at: the voucher was valid then, though not any more.
    used = await v.read(recent["id"])
    assert used["status"] == "redeemed"
    assert datetime.fromisoformat(used["redeemed_at"]) == now - timedelta(hours=2)


async def test_the_chain_sets_its_window(v: Vouchers) -> None:
    chain = await v.client.get(f"{API}/chain", headers=v.operator)
    assert chain.status_code == 200, chain.text
    assert chain.json()["offline_window_minutes"] == 1440
    assert chain.json()["id"] == str(v.world.a.id)
    for bad in (4, 10_081, 0, -1, None):  # ("60" and 60.0: item 8, strict numbers)
        refused = await v.client.patch(f"{API}/chain", json={"offline_window_minutes": bad},
                                       headers=v.operator)
        if bad is None:  # nothing to change
            assert refused.status_code == 200
            continue
        assert refused.status_code == 400, (bad, refused.text)
        assert refused.json()["code"] == "validation_error"
    for who in ("alpha-manager", "alpha-clerk1"):
        assert (await v.client.patch(f"{API}/chain", json={"offline_window_minutes": 60},
                                     headers=v.staff(who))).status_code == 403
        assert (await v.client.get(f"{API}/chain", headers=v.staff(who))).status_code == 403
    assert (await v.client.get(f"{API}/chain", headers=v.member())).status_code == 403

    campaign = await old_campaign(v)
    first, second, third = [await claim(v, campaign) for _ in range(3)]
    now = utcnow()
    shorter = await set_window(v, 60)
    assert shorter.status_code == 200 and shorter.json()["offline_window_minutes"] == 60
    assert await synced(v, item(first["code"], now - timedelta(hours=2), "two-hours")) == \
        {"two-hours": ("rejected", "offline_window_exceeded")}
    assert (await set_window(v, 7 * 24 * 60)).json()["offline_window_minutes"] == 10_080
    assert await synced(v, item(second["code"], now - timedelta(days=6), "six-days"),
                        item(third["code"], now - timedelta(days=8), "eight-days")) == {
        "six-days": ("accepted", None), "eight-days": ("rejected", "offline_window_exceeded")}
    # Another chain keeps its own window.
    beta = await v.client.get(f"{API}/chain", headers=v.world.headers(v.world.b.operator))
    assert beta.json()["offline_window_minutes"] == 1440


async def test_a_synced_redemption_is_reversible_for_a_day_after_its_upload(
        v: Vouchers, monkeypatch: pytest.MonkeyPatch) -> None:
    voucher = await claim(v, await old_campaign(v))
    now = utcnow()
    results = (await v.sync([item(voucher["code"], now - timedelta(hours=23), "late")])).json()
    [result] = results["results"]
    assert result["status"] == "accepted"
    url = f"{API}/redemptions/{result['redemption_id']}/reverse"
    # Two hours on, the scan is 25 h old but was recorded 2 h ago: it can be undone.
    monkeypatch.setattr(redemption, "utcnow", lambda: now + timedelta(hours=2))
    undone = await v.client.post(url, headers=v.staff("alpha-manager"))
    assert undone.status_code == 200, undone.text
    assert (await v.read(voucher["id"]))["status"] == "issued"

    again = await claim(v, await old_campaign(v))
    monkeypatch.setattr(sync, "utcnow", lambda: now)
    [second] = (await v.sync([item(again["code"], now - timedelta(hours=1), "later")]
                             )).json()["results"]
    monkeypatch.setattr(redemption, "utcnow", lambda: now + timedelta(hours=24, minutes=1))
    closed = await v.client.post(f"{API}/redemptions/{second['redemption_id']}/reverse",
                                 headers=v.staff("alpha-manager"))
    assert (closed.status_code, closed.json()["code"]) == (409, "reversal_window_closed")


async def test_a_replayed_batch_changes_nothing(v: Vouchers) -> None:
    campaign = await old_campaign(v)
    a, b = [await claim(v, campaign) for _ in range(2)]
    now = utcnow()
    items = [item(a["code"], now - timedelta(hours=3), "r-1"),
             item(b["code"], now - timedelta(days=3), "r-2"),
             item(b["code"], now + timedelta(hours=1), "r-3")]
    first = await synced(v, *items)
    assert first == {"r-1": ("accepted", None), "r-2": ("rejected", "offline_window_exceeded"),
                     "r-3": ("rejected", "offline_window_exceeded")}
    before = [await v.read(a["id"]), await v.read(b["id"])]
    # Even with a wider window now: the first answer stands.
    await set_window(v, 7 * 24 * 60)
    replay = await synced(v, *items)
    assert replay == {ref: ("duplicate", code) for ref, (_, code) in first.items()}
    assert [await v.read(a["id"]), await v.read(b["id"])] == before
    assert await count(a) == 1 and await count(b) == 0


async def test_a_late_upload_never_changes_a_closed_day(v: Vouchers) -> None:
    """Yesterday (in the store's zone) is over: an upload today of a scan made yesterday
    counts today, on the day sheet and in the stats, and shows both times."""
    await set_window(v, 7 * 24 * 60)
    campaign = await old_campaign(v)
    online_yesterday, offline = [await claim(v, campaign) for _ in range(2)]
    today = utcnow().astimezone(SHANGHAI).date()
    yesterday = today - timedelta(days=1)
    store = str(v.world.a.stores[0])
    # Something recorded yesterday, for the day to have figures of its own.
    noon = datetime.combine(yesterday, time(12), SHANGHAI)
    row = (await v.redeem(online_yesterday["code"], amount=5_000)).json()
    await Redemption.update({Redemption.created_at: noon, Redemption.redeemed_at: noon}).where(
        Redemption.id == uuid.UUID(row["id"])).run()

    async def sheet(day: object) -> list[dict[str, Any]]:
        response = await v.client.get(f"{API}/redemptions", headers=v.staff("alpha-clerk1"),
                                      params={"store_id": store, "from": str(day),
                                              "to": str(day)})
        assert response.status_code == 200, response.text
        return list(response.json())

    async def stats(day: object) -> dict[str, Any]:
        response = await v.client.get(f"{API}/stats/overview", headers=v.operator, params={
            "from": str(day), "to": str(day), "store_id": store})
        assert response.status_code == 200, response.text
        return dict(response.json())

    closed_sheet, closed_stats = await sheet(yesterday), await stats(yesterday)
    assert [r["id"] for r in closed_sheet] == [row["id"]]
    assert closed_stats["redemptions"]["count"] == 1
    today_count = (await stats(today))["redemptions"]["count"]

    scanned = datetime.combine(yesterday, time(21, 30), SHANGHAI)
    assert await synced(v, item(offline["code"], scanned, "closed-day")) == \
        {"closed-day": ("accepted", None)}
    assert await sheet(yesterday) == closed_sheet
    assert await stats(yesterday) == closed_stats
    assert (await stats(today))["redemptions"]["count"] == today_count + 1
    [late] = [r for r in await sheet(today) if r["object_id"] == offline["id"]]
    assert late["offline"] is True
    assert datetime.fromisoformat(late["redeemed_at"]) == scanned
    recorded = datetime.fromisoformat(late["recorded_at"])
    assert recorded.astimezone(SHANGHAI).date() == today
    assert recorded == datetime.fromisoformat(late["created_at"])
    [online] = closed_sheet
    assert online["offline"] is False and online["redeemed_at"] == online["recorded_at"]


async def test_campaign_and_store_rules_still_hold_at_the_claimed_time(v: Vouchers) -> None:
    """Judged at redeemed_at: a campaign that had not started then refuses the scan."""
    starts = utcnow() - timedelta(hours=1)
    campaign = await v.campaign(valid_from=starts.isoformat())
    voucher = await claim(v, campaign)
    await Campaign.update({Campaign.valid_from: starts}).where(
        Campaign.id == uuid.UUID(campaign["id"])).run()
    assert await synced(v, item(voucher["code"], starts - timedelta(minutes=30), "early")) == \
        {"early": ("rejected", "campaign_inactive")}
    assert await synced(v, item(voucher["code"], starts + timedelta(minutes=5), "ok")) == \
        {"ok": ("accepted", None)}
