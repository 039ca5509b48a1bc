"""Issue 20 (Marketing) read the way an outside client reads ../shared/API.md, section
"Marketing": every endpoint over real HTTP against `o2o serve` in its own process (its
marketing runner ticking as in production), with the contract's path, method, status,
field names and types and error codes, and each operation listed in /schema/openapi.json.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.app.contract import assert_types
from tests.conftest import LiveServer
from tests.world import World

API = "/api/v1"

# (method, path as the OpenAPI document spells it) of every Marketing operation.
OPERATIONS = [
    ("post", "/api/v1/segments/preview"), ("post", "/api/v1/segments"),
    ("get", "/api/v1/segments"), ("get", "/api/v1/segments/{segment_id}/members"),
    ("get", "/api/v1/segments/{segment_id}/export.csv"),
    ("post", "/api/v1/campaigns/{campaign_id}/issue"), ("get", "/api/v1/jobs/{job_id}"),
    ("post", "/api/v1/automations"), ("get", "/api/v1/automations"),
    ("patch", "/api/v1/automations/{automation_id}"),
    ("get", "/api/v1/automations/{automation_id}/runs"),
    ("put", "/api/v1/referral-program"), ("get", "/api/v1/me/referral"),
    ("post", "/api/v1/auth/member/wechat"), ("post", "/api/v1/vouchers/{voucher_id}/gift"),
    ("post", "/api/v1/gifts/{gift}/accept"), ("post", "/api/v1/gifts/{gift}/cancel"),
    ("get", "/api/v1/stats/campaigns"),
]

ISO = "%Y-%m-%dT%H:%M:%S"


@pytest.fixture
def server(database_url: str, world: World) -> Iterator[httpx.Client]:
    """`o2o serve` on the world's database, its runner ticking every half second."""
    live = LiveServer(database_url, env={"O2O_WECHAT_MODE": "sandbox",
                                         "O2O_MARKETING_TICK_SECONDS": "0.5"}).start()
    try:
        with httpx.Client(base_url=live.base_url, timeout=20) as http:
            yield http
    finally:
        live.stop()


def _until(read: Any, done: Any, seconds: float = 15) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def _campaign(http: httpx.Client, op: dict[str, str], **body: Any) -> dict[str, Any]:
    response = http.post(f"{API}/campaigns", headers=op, json={
        "name": "Contract ¥10", "kind": "cash", "value_cents": 1000,
        "total_quantity": 1000, "per_member_limit": 10,
        "valid_from": "2026-01-01T00:00:00Z", "valid_until": "2031-01-01T00:00:00Z",
        **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _away_hours() -> dict[str, str]:
    """An hour of the store's day (Asia/Shanghai) that is not now."""
    local = datetime.now(UTC) + timedelta(hours=8)
    start = (local.hour + 6) % 24
    end = f"{start + 1:02d}:00" if start < 23 else "23:59"
    return {"from": f"{start:02d}:00", "to": end}


def test_marketing_over_real_http(server: httpx.Client, world: World) -> None:
    http, a = server, world.a
    op = world.headers(a.operator)
    clerk = world.headers(a.staff["alpha-clerk1"])
    m0, m1 = (world.headers(m) for m in a.members[:2])
    store = str(a.stores[0])

    # Campaign usage rules: weekdays, hours {"from","to"}, giftable.
    away = _campaign(http, op, name="Away hours", hours=_away_hours(),
                     weekdays=list(range(7)))
    assert away["hours"] == _away_hours() and away["weekdays"] == list(range(7)), away
    claimed = http.post(f"{API}/campaigns/{away['id']}/claim", headers=m0)
    assert claimed.status_code == 201, claimed.text
    outside = http.post(f"{API}/redemptions", headers=clerk, json={
        "code": claimed.json()["code"], "amount_cents": 5000, "store_id": store})
    assert (outside.status_code, outside.json()["code"]) == (409, "outside_usage_hours")

    # Segments: preview {"count","members"}, save 201, list, members, export.
    preview = http.post(f"{API}/segments/preview", headers=op, json={"filters": {}})
    assert preview.status_code == 200, preview.text
    assert_types(preview.json(), {"count": int, "members": list})
    assert preview.json()["count"] >= 2
    saved = http.post(f"{API}/segments", headers=op,
                      json={"name": "Everyone", "filters": {"has_phone": True}})
    assert saved.status_code == 201, saved.text
    segment_id = saved.json()["id"]
    listed = http.get(f"{API}/segments", headers=op)
    assert listed.status_code == 200 and segment_id in [s["id"] for s in listed.json()]
    members = http.get(f"{API}/segments/{segment_id}/members",
                       params={"limit": 10, "offset": 0}, headers=op)
    assert members.status_code == 200, members.text
    export = http.get(f"{API}/segments/{segment_id}/export.csv", headers=op)
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")

    # Issuing to a segment: 202 {"job_id"}, GET /jobs/{id} fields, done by the runner.
    gifts = _campaign(http, op, name="Giftable ¥20", giftable=True)
    assert gifts["giftable"] is True
    issued = http.post(f"{API}/campaigns/{gifts['id']}/issue", headers=op,
                       json={"segment_id": segment_id})
    assert issued.status_code == 202, issued.text
    assert set(issued.json()) == {"job_id"}
    job = _until(lambda: http.get(f"{API}/jobs/{issued.json()['job_id']}", headers=op),
                 lambda r: r.status_code != 200 or r.json()["status"] != "running")
    assert job.status_code == 200, job.text
    assert_types(job.json(), {"id": str, "status": str, "total": int, "done": int,
                        "issued": int, "skipped": int})
    assert job.json()["status"] == "done" and job.json()["issued"] >= 2, job.json()

    # Gifting: 201 {"id","token","link","expires_at"}; a scan meanwhile: 409
    # voucher_gifting; the other member accepts: 200 the voucher, theirs.
    mine = [v for v in http.get(f"{API}/me/vouchers", headers=m0).json()
            if v["campaign_id"] == gifts["id"]]
    voucher = mine[0]
    gift = http.post(f"{API}/vouchers/{voucher['id']}/gift", headers=m0)
    assert gift.status_code == 201, gift.text
    assert_types(gift.json(), {"id": str, "token": str, "link": str, "expires_at": str})
    scan = http.post(f"{API}/redemptions", headers=clerk, json={
        "code": voucher["code"], "amount_cents": 5000, "store_id": store})
    assert (scan.status_code, scan.json()["code"]) == (409, "voucher_gifting")
    accepted = http.post(f"{API}/gifts/{gift.json()['token']}/accept", headers=m1)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["id"] == voucher["id"]
    assert accepted.json()["code"] != voucher["code"]
    second = http.post(f"{API}/campaigns/{gifts['id']}/claim", headers=m0)
    assert second.status_code == 201, second.text
    gift2 = http.post(f"{API}/vouchers/{second.json()['id']}/gift", headers=m0)
    assert gift2.status_code == 201, gift2.text
    cancelled = http.post(f"{API}/gifts/{gift2.json()['id']}/cancel", headers=m0)
    assert cancelled.status_code == 200, cancelled.text

    # Automations: 201, list, PATCH 200, runs [{"member_id","voucher_id","occurrence",
    # "created_at"}] written by the server's own runner (a welcome on a first card).
    created = http.post(f"{API}/automations", headers=op, json={
        "name": "Welcome", "trigger": "welcome", "params": {},
        "campaign_id": gifts["id"]})
    assert created.status_code == 201, created.text
    automation = created.json()
    assert_types(automation, {"id": str, "name": str, "trigger": str, "params": dict,
                        "campaign_id": str, "notify": bool, "status": str})
    assert automation["status"] == "active" and automation["notify"] is True
    assert automation["id"] in [x["id"] for x in
                                http.get(f"{API}/automations", headers=op).json()]
    patched = http.patch(f"{API}/automations/{automation['id']}", headers=op,
                         json={"name": "Welcome gift"})
    assert patched.status_code == 200 and patched.json()["name"] == "Welcome gift"
    refused = http.post(f"{API}/automations", headers=op, json={
        "name": "Bad", "trigger": "inactive", "params": {}, "campaign_id": gifts["id"]})
    assert (refused.status_code, refused.json()["code"]) == (400, "validation_error")
    template = http.post(f"{API}/card-templates", headers=op, json={
        "name": "Welcome card", "kind": "membership", "points_per_yuan": 1})
    assert template.status_code == 201, template.text
    card = http.post(f"{API}/cards", headers=clerk, json={
        "template_id": template.json()["id"], "member_id": str(a.members[1].id),
        "store_id": store})
    assert card.status_code == 201, card.text
    runs = _until(lambda: http.get(f"{API}/automations/{automation['id']}/runs",
                                   params={"limit": 10, "offset": 0}, headers=op).json(),
                  lambda body: bool(body))
    assert len(runs) == 1, runs
    assert_types(runs[0], {"member_id": str, "voucher_id": str, "occurrence": str,
                     "created_at": str})
    assert runs[0]["member_id"] == str(a.members[1].id)

    # Referral: PUT the program, GET /me/referral fields, a sign-in with the code.
    program = http.put(f"{API}/referral-program", headers=op, json={
        "referrer_campaign_id": gifts["id"], "invitee_campaign_id": gifts["id"],
        "status": "active"})
    assert program.status_code == 200, program.text
    referral = http.get(f"{API}/me/referral", headers=m0)
    assert referral.status_code == 200, referral.text
    assert_types(referral.json(), {"code": str, "link": str, "invited": int, "rewarded": int})
    invitee = http.post(f"{API}/auth/member/wechat", json={
        "chain_id": str(a.id), "code": "sandbox:contract-invitee",
        "referral_code": referral.json()["code"]})
    assert invitee.status_code == 200, invitee.text
    assert http.get(f"{API}/me/referral", headers=m0).json()["invited"] == 1

    # Results: GET /stats/campaigns fields and types.
    today = (datetime.now(UTC) + timedelta(hours=8)).date()
    results = http.get(f"{API}/stats/campaigns", headers=op, params={
        "from": (today - timedelta(days=1)).isoformat(),
        "to": (today + timedelta(days=1)).isoformat()})
    assert results.status_code == 200, results.text
    rows = {r["campaign_id"]: r for r in results.json()}
    row = rows[gifts["id"]]
    assert_types(row, {"campaign_id": str, "name": str, "issued": int, "redeemed": int,
                 "redemption_rate": (int, float), "discount_cents": int,
                 "bill_cents": int, "returning_members_30d": int})
    assert row["issued"] == job.json()["issued"] + 1 + 1 and row["redeemed"] == 0, row

    # The OpenAPI document lists every Marketing operation.
    document = http.get("/schema/openapi.json").json()
    missing = [(m, p) for m, p in OPERATIONS if m not in document["paths"].get(p, {})]
    assert missing == []
