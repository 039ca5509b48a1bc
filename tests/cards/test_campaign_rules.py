"""Campaign usage rules beyond dates, structured voucher terms, a member's claim state,
campaign results and the signed offline bundle (issue 17: "Wrong 7", a "周中 8 折 Weekday"
campaign redeemed on a Sunday; vouchers show their terms; campaign results; an offline
voucher shows its value and terms from a signed payload)."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cards import public as cards
from cards import redemption, sync
from cards.errors import OutsideUsageHours
from cards.offline_bundle import BUNDLE_DOMAIN, voucher_key
from stores import service as stores_service
from tests.cards.conftest import API
from tests.cards.test_vouchers import Vouchers
from tests.world import World

SHANGHAI = ZoneInfo("Asia/Shanghai")  # every store of the test world
WEEKDAYS = [0, 1, 2, 3, 4]


@pytest.fixture
def v(client: httpx.AsyncClient, world: World) -> Vouchers:
    return Vouchers(client, world)


def next_sunday_noon() -> datetime:
    """Next Sunday 12:00 in Shanghai, at least an hour from now."""
    local = (datetime.now(UTC) + timedelta(hours=1)).astimezone(SHANGHAI)
    day = local.date() + timedelta(days=(6 - local.weekday()) % 7)
    moment = datetime(day.year, day.month, day.day, 12, tzinfo=SHANGHAI)
    return moment if moment > local else moment + timedelta(days=7)


def at_(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    """The till's clock (the scan's now) at ``moment``."""
    monkeypatch.setattr(redemption, "utcnow", lambda: moment.astimezone(UTC))


def wide(**body: Any) -> dict[str, Any]:
    """A campaign valid from yesterday for three weeks (covers the next Sunday)."""
    now = datetime.now(UTC)
    return {"valid_from": (now - timedelta(days=1)).isoformat(),
            "valid_until": (now + timedelta(days=21)).isoformat(), **body}


def b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- rules ------------------------------------------------------------------------------

async def test_a_weekday_campaign_refuses_a_sunday(v: Vouchers,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Wrong 7: "周中 8 折 Weekday" redeemed on a Sunday. Refused, with the rules for the
    page to word; the weekday is the store's (Monday 01:00 in Shanghai is still Sunday in
    UTC, and redeems)."""
    voucher = await v.voucher(**wide(name="周中 8 折 Weekday", kind="discount",
                                     value_cents=None, percent_off=20, weekdays=WEEKDAYS))
    sunday = next_sunday_noon()
    at_(monkeypatch, sunday)
    refused = await v.redeem(voucher["code"], amount=10_000)
    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["code"] == "outside_usage_hours"
    assert (problem["weekdays"], problem["time_from"], problem["time_until"]) == \
        (WEEKDAYS, None, None)
    assert problem["timezone"] == "Asia/Shanghai"
    preview = await v.preview(voucher["code"])
    assert (preview.status_code, preview.json()["code"]) == (409, "outside_usage_hours")
    assert (await v.read(voucher["id"]))["status"] == "issued"

    monday_early = sunday.replace(hour=1) + timedelta(days=1)  # Sunday 17:00 UTC
    assert monday_early.astimezone(UTC).weekday() == 6
    at_(monkeypatch, monday_early)
    redeemed = await v.redeem(voucher["code"], amount=10_000)
    assert redeemed.status_code == 201, redeemed.text
    assert redeemed.json()["discount_cents"] == 2_000


async def test_hours_of_the_day_in_the_stores_zone(v: Vouchers,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    voucher = await v.voucher(**wide(name="Lunch", time_from="10:00", time_until="14:00"))
    day = next_sunday_noon()
    for hour, minute, allowed in ((9, 59, False), (10, 0, True), (13, 59, True),
                                  (14, 0, False)):
        at_(monkeypatch, day.replace(hour=hour, minute=minute))
        preview = await v.preview(voucher["code"])
        if allowed:
            assert preview.status_code == 200, (hour, minute, preview.text)
        else:
            assert preview.status_code == 409, (hour, minute, preview.text)
            assert preview.json()["code"] == "outside_usage_hours"
            assert (preview.json()["time_from"], preview.json()["time_until"]) == \
                ("10:00", "14:00")
            assert preview.json()["weekdays"] is None


async def test_an_evening_campaign_runs_to_midnight(v: Vouchers,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """time_until "24:00": the end of the day, its last minute included."""
    voucher = await v.voucher(**wide(name="Late", time_from="18:00", time_until="24:00"))
    assert voucher["terms"]["time_until"] == "24:00"
    day = next_sunday_noon()
    for moment, allowed in ((day.replace(hour=17, minute=59), False),
                            (day.replace(hour=18), True),
                            (day.replace(hour=23, minute=59, second=59), True),
                            (day.replace(hour=0), False),
                            (day.replace(hour=0) + timedelta(days=1), False)):
        at_(monkeypatch, moment)
        preview = await v.preview(voucher["code"])
        assert preview.status_code == (200 if allowed else 409), (moment, preview.text)
        if not allowed:
            assert preview.json()["time_until"] == "24:00"


async def test_offline_sync_is_judged_at_redeemed_at(v: Vouchers,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    sunday = next_sunday_noon().replace(hour=23)  # both inside the 24 h offline window
    rule = wide(name="Weekday", weekdays=WEEKDAYS)
    on_sunday = await v.voucher(**rule)
    on_monday = await v.voucher(member_index=1, **rule)
    monday = sunday + timedelta(minutes=90)
    monkeypatch.setattr(sync, "utcnow", lambda: monday + timedelta(minutes=5))
    response = await v.sync([
        {"code": on_sunday["code"], "redeemed_at": sunday.isoformat(), "client_ref": "sun"},
        {"code": on_monday["code"], "redeemed_at": monday.isoformat(), "client_ref": "mon"}])
    assert response.status_code == 200, response.text
    results = {r["client_ref"]: (r["status"], r.get("code")) for r in response.json()["results"]}
    assert results == {"sun": ("rejected", "outside_usage_hours"),
                       "mon": ("accepted", None)}


async def test_an_offline_batch_loads_its_store_once(v: Vouchers,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The store (and its zone, for the rules) is loaded once per upload, not per item."""
    ruled = [await v.voucher(member_index=n % 2, **wide(name=f"Ruled {n}",
                                                       weekdays=list(range(7)),
                                                       time_from="00:00", time_until="24:00"))
             for n in range(3)]
    calls: Counter[str] = Counter()
    for name in ("visible_store", "chain_store"):
        real = getattr(stores_service, name)

        async def counted(*args: Any, _real: Any = real, _name: str = name,
                          **kwargs: Any) -> Any:
            calls[_name] += 1
            return await _real(*args, **kwargs)
        monkeypatch.setattr(stores_service, name, counted)
    now = datetime.now(UTC)
    response = await v.sync([{"code": x["code"], "redeemed_at": now.isoformat(),
                              "client_ref": f"ruled-{n}"} for n, x in enumerate(ruled)])
    assert response.status_code == 200, response.text
    assert [r["status"] for r in response.json()["results"]] == ["accepted"] * 3
    assert calls == Counter({"visible_store": 1})


@pytest.mark.parametrize(("rules", "field"), [
    ({"weekdays": []}, "weekdays"),
    ({"weekdays": [7]}, "weekdays"),
    ({"weekdays": [-1]}, "weekdays"),
    ({"weekdays": [1, 1]}, "weekdays"),
    ({"time_from": "10:00"}, "time_until"),
    ({"time_until": "10:00"}, "time_from"),
    ({"time_from": "9:00", "time_until": "10:00"}, "time_from"),
    ({"time_from": "10:00", "time_until": "24:01"}, "time_until"),
    ({"time_from": "10:00", "time_until": "25:00"}, "time_until"),
    ({"time_from": "24:00", "time_until": "24:00"}, "time_from"),
    ({"time_from": "10:00", "time_until": "10:00"}, "time_until"),
    ({"time_from": "14:00", "time_until": "10:00"}, "time_until"),
])
async def test_bad_rules_name_their_field(v: Vouchers, rules: dict[str, Any],
                                          field: str) -> None:
    response = await v.create(**rules)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"][0]["field"] == field


# --- terms ------------------------------------------------------------------------------

async def test_vouchers_and_campaigns_carry_structured_terms(v: Vouchers) -> None:
    store = str(v.world.a.stores[0])
    body = wide(name="周中 8 折", kind="discount", value_cents=None, percent_off=20,
                max_discount_cents=5_000, min_spend_cents=10_000, store_ids=[store],
                weekdays=[4, 0, 2], time_from="10:00", time_until="22:00")
    campaign = await v.campaign(**body)
    assert (campaign["weekdays"], campaign["time_from"], campaign["time_until"]) == \
        ([0, 2, 4], "10:00", "22:00")
    assert (campaign["claimed_count"], campaign["can_claim"],
            campaign["cannot_claim_reason"]) == (None, None, None)  # staff
    claimed = await v.claim(campaign["id"])
    assert claimed.status_code == 201, claimed.text
    terms = claimed.json()["terms"]
    expected = {"kind": "discount", "value_cents": None, "percent_off": 20,
                "max_discount_cents": 5_000, "item_name": None, "min_spend_cents": 10_000,
                "store_ids": [store], "weekdays": [0, 2, 4], "time_from": "10:00",
                "time_until": "22:00"}
    assert {k: terms[k] for k in expected} == expected
    assert datetime.fromisoformat(terms["valid_until"]) == \
        datetime.fromisoformat(body["valid_until"])
    assert claimed.json()["campaign_name"] == "周中 8 折"
    mine = await v.client.get(f"{API}/me/vouchers", headers=v.member())
    assert mine.json()[0]["terms"] == terms
    assert (await v.read(claimed.json()["id"]))["terms"] == terms


async def test_the_preview_of_a_voucher_gives_its_terms(v: Vouchers) -> None:
    voucher = await v.voucher(**wide(name="¥20 off", min_spend_cents=5_000))
    plain = await v.preview(voucher["code"])
    assert plain.status_code == 200, plain.text
    assert plain.json()["summary"]  # kept for the contract
    assert plain.json()["voucher"]["campaign_name"] == "¥20 off"
    assert plain.json()["voucher"]["terms"]["value_cents"] == 2_000
    assert plain.json()["voucher"]["terms"]["min_spend_cents"] == 5_000
    assert plain.json()["voucher"]["discount_cents"] is None
    billed = await v.client.post(f"{API}/redemptions/preview", headers=v.staff("alpha-clerk1"),
                                 json=v.body(voucher["code"], amount=8_000))
    assert billed.status_code == 200, billed.text
    assert billed.json()["voucher"]["discount_cents"] == 2_000


async def test_already_redeemed_says_when_and_where(v: Vouchers) -> None:
    voucher = await v.voucher()
    first = await v.redeem(voucher["code"], amount=5_000)
    assert first.status_code == 201, first.text
    again = await v.redeem(voucher["code"], amount=5_000, store=1, clerk="alpha-clerk2")
    assert again.status_code == 409
    problem = again.json()
    assert problem["code"] == "already_redeemed"
    assert problem["store_id"] == str(v.world.a.stores[0])
    assert problem["store_name"] == "alpha store 1"
    assert datetime.fromisoformat(problem["redeemed_at"]) == \
        datetime.fromisoformat(first.json()["redeemed_at"])


# --- claim state ------------------------------------------------------------------------

async def test_a_member_sees_what_they_can_claim(v: Vouchers) -> None:
    open_ = await v.campaign(name="Open", per_member_limit=2)
    limited = await v.campaign(name="Limited", per_member_limit=1)
    sold_out = await v.campaign(name="Sold out", total_quantity=1)
    later = await v.campaign(name="Later", valid_from=(
        datetime.now(UTC) + timedelta(days=1)).isoformat())
    assert (await v.claim(open_["id"])).status_code == 201
    assert (await v.claim(limited["id"])).status_code == 201
    assert (await v.claim(sold_out["id"], v.world.a.members[1])).status_code == 201

    listed = await v.client.get(f"{API}/campaigns", headers=v.member())
    state = {c["name"]: (c["claimed_count"], c["can_claim"], c["cannot_claim_reason"])
             for c in listed.json()}
    assert state == {"Open": (1, True, None), "Limited": (1, False, "claim_limit_reached"),
                     "Sold out": (0, False, "campaign_sold_out")}  # Later: not listed yet
    one = await v.client.get(f"{API}/campaigns/{later['id']}", headers=v.member())
    assert (one.json()["can_claim"], one.json()["cannot_claim_reason"]) == \
        (False, "campaign_inactive")
    staff = await v.client.get(f"{API}/campaigns", headers=v.operator)
    assert {c["can_claim"] for c in staff.json()} == {None}


# --- results ----------------------------------------------------------------------------

async def test_campaign_results(v: Vouchers) -> None:
    campaign = await v.campaign(name="Results", total_quantity=10)
    empty = await v.client.get(f"{API}/campaigns/{campaign['id']}/results", headers=v.operator)
    assert empty.status_code == 200, empty.text
    assert empty.json() == {"campaign_id": campaign["id"], "issued": 0, "redeemed": 0,
                            "revoked": 0, "expired": 0, "redemption_rate": 0,
                            "discount_cents": 0, "bill_cents": 0}
    members = await v.new_members(2)
    vouchers = []
    for member in [*v.world.a.members, *members]:
        claimed = await v.claim(campaign["id"], member)
        assert claimed.status_code == 201, claimed.text
        vouchers.append(claimed.json())
    kept = await v.redeem(vouchers[0]["code"], amount=15_000)
    assert kept.status_code == 201
    undone = await v.redeem(vouchers[1]["code"], amount=30_000)
    assert undone.status_code == 201
    reversed_ = await v.client.post(f"{API}/redemptions/{undone.json()['id']}/reverse",
                                    headers=v.staff("alpha-manager"))
    assert reversed_.status_code == 200, reversed_.text
    gone = await v.client.post(f"{API}/vouchers/{vouchers[2]['id']}/revoke",
                               headers=v.operator)
    assert gone.status_code == 200
    results = await v.client.get(f"{API}/campaigns/{campaign['id']}/results",
                                 headers=v.operator)
    assert results.json() == {"campaign_id": campaign["id"], "issued": 4, "redeemed": 1,
                              "revoked": 1, "expired": 0, "redemption_rate": 0.25,
                              "discount_cents": 2_000, "bill_cents": 15_000}
    manager = await v.client.get(f"{API}/campaigns/{campaign['id']}/results",
                                 headers=v.staff("alpha-manager"))
    assert manager.status_code == 403
    foreign = await v.client.get(f"{API}/campaigns/{campaign['id']}/results",
                                 headers=v.world.headers(v.world.b.operator))
    assert foreign.status_code == 404


# --- offline bundle ---------------------------------------------------------------------

async def test_the_offline_bundle_is_signed_by_the_chains_key(v: Vouchers) -> None:
    store1, store2 = (str(s) for s in v.world.a.stores)
    weekday = await v.voucher(**wide(name="周中 8 折", kind="discount", value_cents=None,
                                     percent_off=20, weekdays=WEEKDAYS))
    elsewhere = await v.voucher(member_index=1, **wide(name="Store 2 only",
                                                       store_ids=[store2]))
    spent = await v.voucher(member_index=1, **wide(name="Spent"))
    assert (await v.redeem(spent["code"], amount=5_000)).status_code == 201
    response = await v.client.get(f"{API}/campaigns/offline-bundle",
                                  params={"store_id": store1}, headers=v.staff("alpha-clerk1"))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    bundle = response.json()
    keys = await v.client.get(f"{API}/keys", params={"chain_id": str(v.world.a.id)})
    jwk = next(k for k in keys.json()["keys"] if k["kid"] == bundle["kid"])
    public = Ed25519PublicKey.from_public_bytes(b64(jwk["x"]))
    payload = b64(bundle["payload"])
    # Signed over the domain line, then the payload (never the payload alone: a code's
    # signature is over its bare 26 bytes).
    public.verify(b64(bundle["signature"]), BUNDLE_DOMAIN + payload)  # raises if bad
    with pytest.raises(InvalidSignature):
        public.verify(b64(bundle["signature"]), payload)
    tampered = payload.replace(b'"percent_off":20', b'"percent_off":90')
    assert tampered != payload
    with pytest.raises(InvalidSignature):
        public.verify(b64(bundle["signature"]), BUNDLE_DOMAIN + tampered)

    document = json.loads(payload)
    assert (document["chain_id"], document["store_id"], document["store_timezone"]) == \
        (str(v.world.a.id), store1, "Asia/Shanghai")
    assert document["truncated"] is False and document["version"] == 2
    names = [c["name"] for c in document["campaigns"]]
    assert "Store 2 only" not in names and "Spent" in names
    # Vouchers are keyed by a hash of their id, never the id (GET /vouchers/{id} is how
    # a member's page gets the code): base64url(sha256(domain + id bytes))[:16].
    for voucher in (weekday, elsewhere, spent):
        assert voucher["id"] not in payload.decode()
    key = base64.urlsafe_b64encode(hashlib.sha256(
        b"o2o/offline-bundle/voucher\n" + uuid.UUID(weekday["id"]).bytes).digest())
    assert key.decode()[:16] == voucher_key(uuid.UUID(weekday["id"]))
    assert set(document["vouchers"]) == {voucher_key(uuid.UUID(weekday["id"]))}
    assert voucher_key(uuid.UUID(spent["id"])) not in document["vouchers"]  # redeemed
    terms = document["campaigns"][document["vouchers"][voucher_key(uuid.UUID(weekday["id"]))]]
    assert (terms["name"], terms["kind"], terms["percent_off"], terms["weekdays"]) == \
        ("周中 8 折", "discount", 20, WEEKDAYS)

    other_store = await v.client.get(f"{API}/campaigns/offline-bundle",
                                     params={"store_id": store2},
                                     headers=v.staff("alpha-clerk1"))
    assert other_store.status_code == 404
    member = await v.client.get(f"{API}/campaigns/offline-bundle",
                                params={"store_id": store1}, headers=v.member())
    assert member.status_code == 403
    assert uuid.UUID(bundle["kid"].rjust(32, "0"))  # 8 hex digits


async def test_a_booking_paid_with_a_weekday_voucher_on_a_sunday_is_refused(
        v: Vouchers) -> None:
    """The booking's payment asks cards.public, which runs the same rule in the store's
    zone (looked up: no scan carries the store there)."""
    voucher = await v.voucher(**wide(name="Weekday", weekdays=WEEKDAYS))
    member, store = v.world.a.members[0], v.world.a.stores[0]
    sunday = next_sunday_noon()
    with pytest.raises(OutsideUsageHours) as refused:
        await cards.payable(member, member.id, store, price_cents=8_800, at=sunday,
                            voucher_id=uuid.UUID(voucher["id"]))
    assert refused.value.extra["weekdays"] == WEEKDAYS
    await cards.payable(member, member.id, store, price_cents=8_800,
                        at=sunday + timedelta(days=1), voucher_id=uuid.UUID(voucher["id"]))


async def test_an_offline_conflict_names_the_other_store(v: Vouchers) -> None:
    voucher = await v.voucher()
    assert (await v.redeem(voucher["code"], amount=5_000)).status_code == 201
    response = await v.sync([{"code": voucher["code"], "client_ref": "late",
                              "redeemed_at": datetime.now(UTC).isoformat()}],
                            store=1, clerk="alpha-clerk2")
    result = response.json()["results"][0]
    assert (result["status"], result["code"]) == ("conflict", "already_redeemed")
    assert (result["store_id"], result["store_name"]) == \
        (str(v.world.a.stores[0]), "alpha store 1")


# --- the contract's spelling: hours {"from", "to"} (issue 20) ---------------------------

@pytest.mark.parametrize(("rules", "field"), [
    ({"hours": {"from": "10:00"}}, "to"),  # msgspec names the missing key
    ({"hours": {"from": "9:00", "to": "10:00"}}, "hours.from"),
    ({"hours": {"from": "10:00", "to": "09:00"}}, "hours.to"),
    ({"hours": {"from": "10:00", "to": "14:00"}, "time_from": "11:00",
      "time_until": "14:00"}, "hours"),
])
async def test_bad_hours_name_their_field(v: Vouchers, rules: dict[str, Any],
                                          field: str) -> None:
    response = await v.create(**rules)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == field


async def test_hours_are_checked_at_the_scan_the_preview_and_the_sync(
        v: Vouchers, monkeypatch: pytest.MonkeyPatch) -> None:
    """``hours`` (the contract's spelling) is the same rule as time_from/time_until:
    answered in both spellings, with giftable, and refused with outside_usage_hours at
    the scan, the preview and an offline upload; the signed bundle carries it."""
    hours = {"from": "10:00", "to": "14:00"}
    first = await v.voucher(**wide(name="Lunch", hours=hours, giftable=True))
    second = await v.voucher(member_index=1, **wide(name="Lunch 2", hours=hours))
    campaign = await v.read_campaign(first["campaign_id"])
    assert (campaign["hours"], campaign["time_from"], campaign["time_until"],
            campaign["giftable"]) == (hours, "10:00", "14:00", True)
    assert (first["terms"]["hours"], first["terms"]["giftable"]) == (hours, True)
    assert second["terms"]["giftable"] is False
    sunday = next_sunday_noon()
    evening = sunday.replace(hour=18)
    at_(monkeypatch, evening)
    for refused in (await v.preview(first["code"]), await v.redeem(first["code"])):
        assert refused.status_code == 409, refused.text
        assert (refused.json()["code"], refused.json()["hours"]) == ("outside_usage_hours",
                                                                      hours)
    monkeypatch.setattr(sync, "utcnow", lambda: evening.astimezone(UTC))
    uploaded = await v.sync([
        {"code": first["code"], "redeemed_at": evening.isoformat(), "client_ref": "late"},
        {"code": second["code"], "redeemed_at": sunday.isoformat(), "client_ref": "noon"}])
    results = {r["client_ref"]: (r["status"], r.get("code"))
               for r in uploaded.json()["results"]}
    assert results == {"late": ("rejected", "outside_usage_hours"),
                       "noon": ("accepted", None)}
    bundle = await v.client.get(f"{API}/campaigns/offline-bundle",
                                params={"store_id": str(v.world.a.stores[0])},
                                headers=v.staff("alpha-clerk1"))
    document = json.loads(b64(bundle.json()["payload"]))
    assert {c["name"]: c["hours"] for c in document["campaigns"]}["Lunch"] == hours
