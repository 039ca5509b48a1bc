"""The real WeChat adapter over HTTP against the stand-in WeChat server, on both engines:
every event delivered once through -1, 45009, 40001, timeouts, dropped connections, 5xx
and garbage; 43101 tried once and failed; one token fetch plus one forced refresh; never
``/cgi-bin/token``."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar

from app.core.notify import events, outbox
from app.core.notify.dispatcher import Dispatcher
from app.core.settings import Settings
from tests.conftest import make_settings
from tests.core.notify.conftest import (
    API,
    APP_ID,
    APP_SECRET,
    FAST,
    TEMPLATES,
    get_json,
    rows,
    wait_for,
    wait_settled,
)
from tests.stand_ins import fixtures as stand_ins
from tests.stand_ins.wechat import STABLE_TOKEN, SUBSCRIBE_SEND, WechatStandIn
from tests.world import World

wechat_server = stand_ins.wechat_server
MAX_ATTEMPTS = 6
LIVE: dict[str, Any] = {**FAST, "wechat_timeout_s": 1.0, "notify_max_attempts": MAX_ATTEMPTS}
SHANGHAI = {"store_name": "Silk Hair Salon, People's Square flagship", "timezone":
            "Asia/Shanghai"}
# One message of each event, as the domains emit them.
DATA: dict[str, dict[str, str | int | None]] = {
    events.CARD_ISSUED: {"card_name": "Prepaid Gold Card For Our Very Best Customers",
                         "card_number": "812345678903", **SHANGHAI},
    events.VOUCHER_ISSUED: {"campaign_name": "Twenty off", "benefit": "¥20.00 off",
                            "valid_until": "2026-12-31T15:59:59+00:00"},
    events.BOOKING_CONFIRMED: {"service_name": "Haircut", "start": "2026-11-21T01:30:00+00:00",
                               **SHANGHAI},
    events.BOOKING_CANCELLED: {"service_name": "Haircut", "start": "2026-11-21T01:30:00+00:00",
                               **SHANGHAI},
    events.BOOKING_REMINDER: {"service_name": "Colour", "start": "2026-11-21T06:00:00+00:00",
                              **SHANGHAI},
    events.REDEEMED: {"item": "Twenty off", "amount_cents": 2_000, **SHANGHAI},
    events.BALANCE_CHANGED: {"card_name": "Prepaid", "reason": "top_up",
                             "delta_cents": 50_000, "balance_cents": 62_345, **SHANGHAI},
    events.VOUCHER_GIFT: {"campaign_name": "Twenty off", "outcome": "accepted",
                          "friend_name": "Li"},
}


@pytest.fixture
def settings(database_url: str, wechat_server: WechatStandIn) -> Settings:
    return make_settings(database_url, wechat_mode="live", wechat_api_base=wechat_server.url,
                         **LIVE)


@dataclass
class Member:
    id: uuid.UUID
    openid: str
    headers: dict[str, str]


@dataclass
class Live:
    client: httpx.AsyncClient
    world: World
    wechat: WechatStandIn

    async def member(self, openid: str) -> Member:
        """A member who logged in through WeChat (so the chain knows their openid)."""
        code = self.wechat.register_code(openid, app_id=APP_ID)
        response = await self.client.post(f"{API}/auth/member/wechat",
                                          json={"chain_id": str(self.world.a.id), "code": code})
        assert response.status_code == 200, response.text
        body = response.json()
        return Member(uuid.UUID(body["member"]["id"]), openid,
                      {"Authorization": f"Bearer {body['token']}"})

    async def emit(self, member_id: uuid.UUID, event: str) -> None:
        await outbox.emit(event, chain_id=self.world.a.id, member_id=member_id,
                          data=DATA[event])

    def sent_to(self, openid: str) -> list[Any]:
        return [m for m in self.wechat.sent() if m.touser == openid]

    def sends_to(self, openid: str) -> int:
        return sum(1 for r in self.wechat.requests_to(SUBSCRIBE_SEND)
                   if isinstance(r.json, dict) and r.json.get("touser") == openid)


@pytest.fixture
async def live(client: httpx.AsyncClient, world: World, wechat_server: WechatStandIn) -> Live:
    wechat_server.add_app(APP_ID, APP_SECRET, templates=set(TEMPLATES.values()))
    response = await client.put(f"{API}/wechat-config", headers=world.headers(world.a.operator),
                                json={"app_id": APP_ID, "app_secret": APP_SECRET,
                                      "templates": TEMPLATES})
    assert response.status_code == 200, response.text
    return Live(client, world, wechat_server)


async def test_every_event_reaches_wechat_once_through_faults(live: Live) -> None:
    wechat = live.wechat
    fan = await live.member("oFan_0001")
    await live.emit(fan.id, events.CARD_ISSUED)
    await wait_settled()
    assert len(wechat.token_fetches()) == 1

    # WeChat now refuses the token every process holds (40001), and stumbles: busy,
    # quota, a call that never answers, a reset, a 502, a slow answer, an HTML page.
    wechat.invalidate_tokens()
    wechat.fail(SUBSCRIBE_SEND, -1)
    wechat.fail(SUBSCRIBE_SEND, 45009)
    wechat.hang(SUBSCRIBE_SEND, 2.5)
    wechat.drop(SUBSCRIBE_SEND)
    wechat.http_error(SUBSCRIBE_SEND, 502)
    wechat.slow(SUBSCRIBE_SEND, 0.3)  # slow but within the timeout: delivered
    wechat.garbage(SUBSCRIBE_SEND)
    rest = sorted(events.ALL - {events.CARD_ISSUED})
    for event in rest:
        await live.emit(fan.id, event)
    await wait_settled(30)

    outbox_rows = await rows(member_id=fan.id)
    assert {r["status"] for r in outbox_rows} == {"sent"}
    assert {r["channel"] for r in outbox_rows} == {"wechat"}
    # Each of the six failures cost one attempt; the refused token none (refreshed and
    # sent again within the attempt).
    assert sum(r["attempts"] for r in outbox_rows) == len(events.ALL) + 6
    messages = live.sent_to(fan.openid)
    assert Counter(m.template_id for m in messages) == Counter(TEMPLATES.values())
    assert len(wechat.token_fetches(forced=False)) == 1
    assert len(wechat.token_fetches(forced=True)) == 1
    assert wechat.classic_token_calls == 0
    for request in wechat.token_fetches():
        assert request.json == {"grant_type": "client_credential", "appid": APP_ID,
                                "secret": APP_SECRET,
                                "force_refresh": request.json["force_refresh"]}

    by_template = {m.template_id: m.data for m in messages}
    card = by_template[TEMPLATES[events.CARD_ISSUED]]
    assert card["thing1"]["value"] == "Prepaid Gold Card F…"  # thing: 20 characters
    assert card["character_string2"] == {"value": "812345678903"}
    reminder = by_template[TEMPLATES[events.BOOKING_REMINDER]]
    assert reminder == {"thing1": {"value": "Colour"},
                        "time2": {"value": "2026年11月21日 14:00"},  # the store's zone
                        "thing3": {"value": "Silk Hair Salon, Pe…"}}
    balance = by_template[TEMPLATES[events.BALANCE_CHANGED]]
    assert (balance["amount3"], balance["amount4"]) == ({"value": "500.00元"},
                                                        {"value": "623.45元"})
    assert balance["thing2"] == {"value": "充值"}  # words in the chain's locale: zh-CN
    voucher = by_template[TEMPLATES[events.VOUCHER_ISSUED]]
    assert voucher["thing2"] == {"value": "立减 ¥20.00"}
    for data in by_template.values():
        for key, field in data.items():
            if key.startswith("thing"):
                assert len(field["value"]) <= 20

    inbox = await get_json(live.client, "/me/inbox", fan.headers)
    assert Counter(m["event"] for m in inbox) == Counter(events.ALL)

    # 43101: this member has no subscription left. Tried once, failed, still in the inbox.
    refusing = await live.member("oNoSubscription")
    wechat.refuse(refusing.openid)
    await live.emit(refusing.id, events.REDEEMED)
    await wait_settled()
    [refused] = await rows(member_id=refusing.id)
    assert (refused["status"], refused["attempts"]) == ("failed", 1)
    assert "errcode=43101" in refused["last_error"]
    assert live.sends_to(refusing.openid) == 1
    assert live.sent_to(refusing.openid) == []
    assert len(await get_json(live.client, "/me/inbox", refusing.headers)) == 1
    failed = await get_json(live.client, "/notifications", live.world.headers(
        live.world.a.operator), status="failed")
    assert [(n["member_id"], n["event"]) for n in failed] == [(str(refusing.id), "redeemed")]
    assert len(wechat.token_fetches()) == 2  # still one fetch and one forced refresh


async def test_gives_up_after_the_last_attempt(live: Live) -> None:
    fan = await live.member("oFan_Busy")
    live.wechat.fail(SUBSCRIBE_SEND, -1, times=None)
    await live.emit(fan.id, events.VOUCHER_ISSUED)
    await wait_settled(30)
    [row] = await rows(member_id=fan.id)
    assert (row["status"], row["attempts"]) == ("failed", MAX_ATTEMPTS)
    assert "errcode=-1" in row["last_error"]
    assert live.sends_to(fan.openid) == MAX_ATTEMPTS
    assert len(await get_json(live.client, "/me/inbox", fan.headers)) == 1


async def test_an_answer_lost_after_wechat_sent_is_sent_again_but_shown_once(
        live: Live) -> None:
    """At least once: WeChat carried the call out but the answer never came back, so the
    message goes again. The member's inbox still shows it once."""
    fan = await live.member("oFan_Lost")
    live.wechat.lose_answer(SUBSCRIBE_SEND)
    await live.emit(fan.id, events.BOOKING_CONFIRMED)
    await wait_settled()
    [row] = await rows(member_id=fan.id)
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert len(live.sent_to(fan.openid)) == 2
    assert len(await get_json(live.client, "/me/inbox", fan.headers)) == 1


async def test_token_errors(live: Live) -> None:
    """The token call itself fails: busy and a hung call are retried; a wrong secret is
    final (nothing else would change it)."""
    fan = await live.member("oFan_Token")
    live.wechat.fail(STABLE_TOKEN, -1)
    live.wechat.hang(STABLE_TOKEN, 2.5)
    await live.emit(fan.id, events.CARD_ISSUED)
    await wait_settled()
    [row] = await rows(member_id=fan.id)
    assert (row["status"], row["attempts"]) == ("sent", 3)
    assert len(live.sent_to(fan.openid)) == 1

    other = await live.member("oFan_Secret")
    live.wechat.apps[APP_ID].secret = "a-rotated-secret"
    live.wechat.expire_tokens()
    await live.emit(other.id, events.CARD_ISSUED)
    await wait_settled()
    [row] = await rows(member_id=other.id)
    # Our stored token still looks valid to us, so WeChat's 42001 comes first; the
    # forced refresh then meets the wrong secret.
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "errcode=40125" in row["last_error"]
    assert live.wechat.classic_token_calls == 0


async def test_without_a_way_to_wechat_the_inbox_alone_is_used(live: Live) -> None:
    world = live.world
    counter_member = world.a.members[0]  # registered at the counter: no openid
    await outbox.emit(events.CARD_ISSUED, chain_id=world.a.id, member_id=counter_member.id,
                      data=DATA[events.CARD_ISSUED])
    await outbox.emit(events.CARD_ISSUED, chain_id=world.b.id, member_id=world.b.members[0].id,
                      data=DATA[events.CARD_ISSUED])  # chain b has no WeChat app
    fan = await live.member("oFan_NoTemplate")
    response = await live.client.put(
        f"{API}/wechat-config", headers=world.headers(world.a.operator),
        json={"app_id": APP_ID, "app_secret": APP_SECRET,
              "templates": {events.CARD_ISSUED: TEMPLATES[events.CARD_ISSUED]}})
    assert response.status_code == 200
    await live.emit(fan.id, events.REDEEMED)
    await wait_settled()
    notes = {(r["member_id"], r["status"], r["channel"], r["last_error"]) for r in await rows()}
    assert notes == {
        (counter_member.id, "sent", "inbox", "wechat skipped: the member has no WeChat openid"),
        (world.b.members[0].id, "sent", "inbox", "wechat skipped: the chain has no WeChat app"),
        (fan.id, "sent", "inbox", "wechat skipped: no template for redeemed"),
    }
    assert live.wechat.requests_to(SUBSCRIBE_SEND) == []
    assert live.wechat.token_fetches() == []


async def test_a_stopping_dispatcher_hands_back_the_rows_in_flight(live: Live,
                                                                   app: Litestar) -> None:
    """Shutdown waits a grace period for deliveries in flight; past it, they are cut off
    and their rows handed back at once, not after the lease."""
    dispatcher: Dispatcher = app.state.dispatcher
    dispatcher.grace_s = 0.2  # shorter than the hung call's timeout
    fan = await live.member("oFan_Stop")
    live.wechat.hang(SUBSCRIBE_SEND, 30)
    await live.emit(fan.id, events.BOOKING_CANCELLED)
    await wait_for(lambda: _sent_requests(live, 1), 10, "the send to start")
    await dispatcher.stop()
    [row] = await rows(member_id=fan.id)
    assert (row["status"], row["attempts"], row["lease_owner"]) == ("pending", 1, None)
    dispatcher.start()  # the process comes back
    await wait_settled()
    [row] = await rows(member_id=fan.id)
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert len(live.sent_to(fan.openid)) == 1


async def _sent_requests(live: Live, count: int) -> bool:
    return len(live.wechat.requests_to(SUBSCRIBE_SEND)) >= count


async def test_subscribe_messages_follow_the_chain_locale(live: Live) -> None:
    """The chain switches to English: the next subscribe message's words are English, its
    time and amount keep the formats WeChat checks."""
    fan = await live.member("oLocale_0001")
    changed = await live.client.patch(f"{API}/chain", json={"locale": "en"},
                                      headers=live.world.headers(live.world.a.operator))
    assert changed.status_code == 200, changed.text
    await live.emit(fan.id, events.BALANCE_CHANGED)
    await wait_settled()
    [message] = live.sent_to(fan.openid)
    assert message.data["thing2"] == {"value": "Top-up"}
    assert message.data["amount3"] == {"value": "500.00元"}
    assert message.data["time5"]["value"].endswith("日 " + message.data["time5"]["value"][-5:])
    [inbox] = await get_json(live.client, "/me/inbox", fan.headers)
    assert inbox["locale"] == "en"
    assert inbox["text"].startswith("Prepaid: top-up of ¥500.00 at ")
