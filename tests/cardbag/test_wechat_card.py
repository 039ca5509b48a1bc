"""A template made a WeChat member card (POST/GET /card-templates/{id}/wechat-card) in live
mode against the WeChat stand-in: what /card/create receives, WeChat's review arriving as
pushes, one WeChat card however many operators press at once, WeChat's refusals and
silences, and the operator's view of the sync's health."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.core.settings import Settings
from cardbag.tables import BagCard, SyncLog, WechatCard
from tests.cardbag import (
    API,
    LOGO,
    PUBLIC_URL,
    MessageServer,
    configure,
    issue,
    live_settings,
    make_wechat_card,
    push_event,
    put_in_bag,
    template,
    wechat_card,
    wechat_card_rows,
)
from tests.stand_ins import fixtures as stand_ins
from tests.stand_ins.wechat import CARD_CREATE, STABLE_TOKEN, WechatStandIn
from tests.world import World

wechat_server = stand_ins.wechat_server


@pytest.fixture
def settings(database_url: str, wechat_server: WechatStandIn) -> Settings:
    return live_settings(database_url, wechat_server)


async def _ready(client: httpx.AsyncClient, world: World, kind: str = "stored_value") -> str:
    assert (await configure(client, world)).status_code == 200
    return await template(client, world, kind=kind)


async def test_create_sends_a_member_card_and_the_review_settles_it(
        client: httpx.AsyncClient, world: World, wechat_server: WechatStandIn) -> None:
    template_id = await _ready(client, world)
    made = await make_wechat_card(client, world, template_id)
    assert made.status_code == 201, made.text
    out = made.json()
    assert out["status"] == "pending" and out["template_id"] == template_id
    assert out["brand_name"] == "O2O Hair" and out["logo_url"] == LOGO
    assert out["reviewed_at"] is None and out["reject_reason"] is None
    assert out["sync"] == {"in_bag": 0, "removed": 0, "pending": 0, "failing": 0,
                           "last_synced_at": None, "recent_failures": []}

    card = wechat_server.card(out["wechat_card_id"]).card  # what WeChat received
    assert card["card_type"] == "MEMBER_CARD"
    member_card = card["member_card"]
    base = member_card["base_info"]
    assert base["use_custom_code"] is True and base["bind_openid"] is True
    assert base["code_type"] == "CODE_TYPE_NONE"  # no static code: ours is the live QR
    assert (base["logo_url"], base["brand_name"], base["title"]) == (LOGO, "O2O Hair", "Gold")
    assert member_card["supply_bonus"] is True and member_card["supply_balance"] is True
    assert member_card["custom_field1"]["name"] == "等级"
    url = f"{PUBLIC_URL}/m/?chain={world.a.id}&wx_template={template_id}"
    assert member_card["custom_cell1"]["url"] == url and base["center_url"] == url

    server = MessageServer(world.a.id)
    await push_event(client, server, "card_pass_check", CardId=out["wechat_card_id"])
    read = await wechat_card(client, world, template_id)
    assert read["status"] == "approved" and read["reviewed_at"] is not None
    assert read["wechat_card_id"] == out["wechat_card_id"]

    # WeChat reviews it again after an edit, and refuses it this time
    await push_event(client, server, "card_not_pass_check", CardId=out["wechat_card_id"],
                     RefuseReason="logo unclear")
    read = await wechat_card(client, world, template_id)
    assert (read["status"], read["reject_reason"]) == ("rejected", "logo unclear")
    # a second POST is a conflict: the template has its WeChat card
    again = await make_wechat_card(client, world, template_id)
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    assert len(wechat_server.requests_to(CARD_CREATE)) == 1


async def test_a_card_without_stored_value_supplies_no_balance(
        client: httpx.AsyncClient, world: World, wechat_server: WechatStandIn) -> None:
    template_id = await _ready(client, world, kind="membership")
    made = await make_wechat_card(client, world, template_id)
    assert made.status_code == 201, made.text
    member_card = wechat_server.card(made.json()["wechat_card_id"]).card["member_card"]
    assert member_card["supply_balance"] is False and member_card["supply_bonus"] is True


async def test_concurrent_posts_create_one_wechat_card(
        client: httpx.AsyncClient, world: World, wechat_server: WechatStandIn) -> None:
    template_id = await _ready(client, world)
    wechat_server.slow(CARD_CREATE, 0.3)  # the racers all arrive while WeChat thinks
    answers = await asyncio.gather(*(make_wechat_card(client, world, template_id)
                                     for _ in range(8)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * 7, [a.text for a in answers]
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"conflict"}
    assert len(wechat_server.requests_to(CARD_CREATE)) == 1
    rows = await wechat_card_rows()
    assert len(rows) == 1 and rows[0]["status"] == "pending"


async def test_a_refused_create_is_told_and_may_be_tried_again(
        client: httpx.AsyncClient, world: World, wechat_server: WechatStandIn) -> None:
    template_id = await _ready(client, world)
    wechat_server.fail(CARD_CREATE, 40053)
    refused = await make_wechat_card(client, world, template_id)
    assert refused.status_code == 502 and refused.json()["code"] == "wechat_refused"
    assert "40053" in refused.json()["detail"]
    failed = await wechat_card(client, world, template_id)
    assert failed["status"] == "failed" and failed["wechat_card_id"] is None
    assert "40053" in failed["reject_reason"]

    wechat_server.drop(CARD_CREATE)
    silent = await make_wechat_card(client, world, template_id)
    assert silent.status_code == 503 and silent.json()["code"] == "wechat_unavailable"

    made = await make_wechat_card(client, world, template_id)
    assert made.status_code == 201 and made.json()["status"] == "pending"
    assert made.json()["reject_reason"] is None
    assert len(wechat_server.requests_to(CARD_CREATE)) == 3


async def test_a_refused_access_token_is_refreshed_once(
        client: httpx.AsyncClient, world: World, wechat_server: WechatStandIn) -> None:
    template_id = await _ready(client, world)
    other = await template(client, world, name="Silver")
    assert (await make_wechat_card(client, world, template_id)).status_code == 201
    wechat_server.invalidate_tokens()  # another process forced a new token meanwhile
    made = await make_wechat_card(client, world, other)
    assert made.status_code == 201, made.text
    assert len(wechat_server.token_fetches(forced=True)) == 1
    assert len(wechat_server.requests_to(CARD_CREATE)) == 3


async def test_who_may_and_what_is_refused(client: httpx.AsyncClient, world: World,
                                           wechat_server: WechatStandIn) -> None:
    template_id = await template(client, world)
    # no WeChat app yet
    unconfigured = await make_wechat_card(client, world, template_id)
    assert unconfigured.status_code == 409
    assert unconfigured.json()["code"] == "wechat_not_configured"
    assert (await configure(client, world)).status_code == 200
    # another chain's operator, a manager, a member, a missing template: nothing made
    beta = await make_wechat_card(client, world, template_id, operator=world.b.operator)
    assert beta.status_code == 404
    manager = await make_wechat_card(client, world, template_id,
                                     operator=world.a.staff["alpha-manager"])
    assert manager.status_code == 403
    missing = await make_wechat_card(client, world, str(uuid.uuid4()))
    assert missing.status_code == 404
    assert (await client.get(f"{API}/card-templates/{template_id}/wechat-card",
                             headers=world.headers(world.a.operator))).status_code == 404
    op = world.headers(world.a.operator)
    for body in ({"brand_name": "x"}, {"logo_url": "ftp://x/y.png", "brand_name": "x"},
                 {"logo_url": LOGO, "brand_name": ""},
                 {"logo_url": LOGO, "brand_name": "a" * 13},
                 {"logo_url": LOGO, "brand_name": "x", "color": "red"},
                 # WeChat's card colours are its palette's names (Color010..Color100)
                 {"logo_url": LOGO, "brand_name": "x", "color": "#63b359"},
                 {"logo_url": LOGO, "brand_name": "x", "color": "Color999"},
                 {"logo_url": LOGO, "brand_name": "x", "extra": 1}):
        bad = await client.post(f"{API}/card-templates/{template_id}/wechat-card", json=body,
                                headers=op)
        assert bad.status_code == 400 and bad.json()["code"] == "validation_error", bad.text
    assert wechat_server.requests_to(CARD_CREATE) == []
    assert await wechat_card_rows() == []


async def test_the_sync_health_of_the_templates_cards(
        client: httpx.AsyncClient, world: World, wechat_server: WechatStandIn) -> None:
    template_id = await _ready(client, world)
    wechat_card_id = (await make_wechat_card(client, world, template_id)).json()[
        "wechat_card_id"]
    server = MessageServer(world.a.id)
    cards = [await issue(client, world, template_id, m) for m in world.a.members]
    for card in cards:
        await put_in_bag(client, server, wechat_card_id, card["number"])
    await push_event(client, server, "user_del_card", CardId=wechat_card_id,
                     UserCardCode=cards[1]["number"])
    # what the sync worker writes: a synced card, a refused push and its log
    synced_at = datetime.now(UTC).replace(microsecond=0)
    first = uuid.UUID(cards[0]["id"])
    await BagCard.update({BagCard.synced_at: synced_at, BagCard.last_error: "wechat: 40056",
                          BagCard.last_errcode: 40056}).where(BagCard.card_id == first).run()
    for n, outcome in enumerate(("retry", "failed")):
        await SyncLog.insert(SyncLog(
            id=uuid.uuid4(), chain_id=world.a.id, template_id=uuid.UUID(template_id),
            card_id=first, action="update", seq=2, outcome=outcome,
            errcode=-1 if outcome == "retry" else 40056, note=f"try {n}",
            at=synced_at + timedelta(seconds=n))).run()
    # another template's log is not this one's
    await SyncLog.insert(SyncLog(
        id=uuid.uuid4(), chain_id=world.a.id, template_id=uuid.uuid4(), card_id=first,
        action="activate", seq=None, outcome="failed", errcode=1, note="other")).run()

    sync = (await wechat_card(client, world, template_id))["sync"]
    assert (sync["in_bag"], sync["removed"], sync["pending"], sync["failing"]) == (1, 1, 1, 1)
    assert datetime.fromisoformat(sync["last_synced_at"]) == synced_at
    assert [(f["outcome"], f["errcode"], f["note"]) for f in sync["recent_failures"]] == [
        ("failed", 40056, "try 1"), ("retry", -1, "try 0")]
    assert sync["recent_failures"][0]["card_id"] == cards[0]["id"]
    assert sync["recent_failures"][0]["action"] == "update"
    assert sync["recent_failures"][0]["seq"] == 2


async def test_creates_share_one_access_token(
        client: httpx.AsyncClient, world: World, wechat_server: WechatStandIn) -> None:
    """Two templates made one after the other share one access token (from the
    database): WeChat's stable_token is asked once."""
    first, second = await _ready(client, world), await template(client, world, name="Two")
    assert (await make_wechat_card(client, world, first)).status_code == 201
    assert (await make_wechat_card(client, world, second)).status_code == 201
    assert len(wechat_server.requests_to(STABLE_TOKEN)) == 1


async def test_a_create_abandoned_mid_call_is_taken_over_after_two_minutes(
        client: httpx.AsyncClient, world: World, wechat_server: WechatStandIn) -> None:
    """A process that died between claiming the row and WeChat's answer leaves it
    ``creating``: a POST is 409 while that may still be in flight, then takes it over."""
    template_id = await _ready(client, world)
    now = datetime.now(UTC)
    await WechatCard.insert(WechatCard(
        template_id=uuid.UUID(template_id), chain_id=world.a.id, status="creating",
        logo_url=LOGO, brand_name="Old", created_at=now, updated_at=now)).run()
    busy = await make_wechat_card(client, world, template_id)
    assert busy.status_code == 409 and busy.json()["code"] == "conflict"
    await WechatCard.update({WechatCard.updated_at: now - timedelta(minutes=3)}).where(
        WechatCard.template_id == uuid.UUID(template_id)).run()
    made = await make_wechat_card(client, world, template_id)
    assert made.status_code == 201, made.text
    assert (made.json()["status"], made.json()["brand_name"]) == ("pending", "O2O Hair")
    assert len(wechat_server.requests_to(CARD_CREATE)) == 1


async def test_a_create_taken_over_never_has_its_row_overwritten_by_the_late_one(
        client: httpx.AsyncClient, world: World, wechat_server: WechatStandIn) -> None:
    """A create so slow that its row looked abandoned and a second POST took it over: when
    the first one's answer finally comes, the row stays the second one's (409 for the
    first; its card in WeChat is an orphan nobody uses)."""
    template_id = await _ready(client, world)
    wechat_server.slow(CARD_CREATE, 1.5)  # the first call only
    slow = asyncio.create_task(make_wechat_card(client, world, template_id))
    for _ in range(100):
        if await wechat_card_rows():
            break
        await asyncio.sleep(0.02)
    await WechatCard.update({WechatCard.updated_at: datetime.now(UTC) - timedelta(minutes=3)}
                            ).where(WechatCard.template_id == uuid.UUID(template_id)).run()
    second = await make_wechat_card(client, world, template_id)
    assert second.status_code == 201, second.text
    first = await slow
    assert first.status_code == 409 and first.json()["code"] == "conflict", first.text
    read = await wechat_card(client, world, template_id)
    assert (read["status"], read["wechat_card_id"]) == ("pending",
                                                        second.json()["wechat_card_id"])
    assert len(wechat_server.requests_to(CARD_CREATE)) == 2
