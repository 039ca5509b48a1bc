"""The card bag's sync in one process, on both engines, against the WeChat stand-in:
figures and order, WeChat's retry rules, the sweep, the lease, the record texts, a card's
``wechat`` field, and no call for a card nobody added."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from app.core.clock import utcnow
from app.core.crypto import SecretBox
from app.core.db import write_transaction
from app.core.events import sequencer
from app.core.settings import Settings
from app.core.wechat import WechatClient
from cardbag import records, sync_repository
from cardbag.sync import CardBagSync, Push, retry_delay_s
from cardbag.tables import BagCard, FeedCursor, SyncLog
from tests.conftest import TEST_SECRET, make_settings
from tests.stand_ins import fixtures as stand_ins
from tests.stand_ins.wechat import MEMBERCARD_ACTIVATE, MEMBERCARD_UPDATEUSER, WechatStandIn
from tests.world import World

from .sync_world import Bag, make_bag, o2o_figures, settle, wechat_figures

wechat_server = stand_ins.wechat_server


@pytest.fixture
def settings(database_url: str, wechat_server: WechatStandIn) -> Settings:
    """The app's own sync stays off: each test turns the sync's rounds itself."""
    return make_settings(database_url, wechat_mode="live", wechat_api_base=wechat_server.url,
                         notify_dispatcher=False, webhook_worker=False, cardbag_sync=False,
                         marketing_runner=False, pay_poller=False, wechat_timeout_s=1.0,
                         cardbag_retry_base_s=0.01)


@pytest.fixture
async def sync(settings: Settings) -> AsyncIterator[CardBagSync]:
    client = WechatClient(settings.wechat_api_base, timeout=settings.wechat_timeout_s)
    yield CardBagSync(settings, client, SecretBox(TEST_SECRET))
    await client.close()


@pytest.fixture
async def bag(client: httpx.AsyncClient, world: World, wechat_server: WechatStandIn) -> Bag:
    return await make_bag(client, world, wechat_server)


async def test_figures_and_order_follow_the_ledger(bag: Bag, sync: CardBagSync,
                                                   wechat_server: WechatStandIn) -> None:
    card = await bag.card()
    assert (await bag.cards.top_up(card["id"], 20_000)).status_code == 201
    await bag.put_in_bag(card)
    await settle(sync, bag.world)
    shown = bag.in_wechat(card)
    assert shown is not None and shown["activated"] and shown["activations"] == 1
    assert shown["membership_number"] == card["number"]
    assert wechat_figures(bag, card) == await o2o_figures(bag, card)
    assert shown["updates"] == []  # activation carried the figures of then

    first = await bag.charge(card, 8_800)
    await bag.charge(card, 1_200)
    await bag.reverse(first["id"])
    assert (await bag.cards.top_up(card["id"], 5_000)).status_code == 201
    await settle(sync, bag.world)

    assert wechat_figures(bag, card) == await o2o_figures(bag, card)
    ledger = (await bag.client.get(f"/api/v1/cards/{card['id']}/ledger",
                                   headers=bag.world.headers(bag.world.a.operator))).json()
    moved = [e for e in ledger[2:] if e["delta_cents"] or e["delta_points"]]
    updates = bag.in_wechat(card)["updates"]  # type: ignore[index]
    assert [u["balance"] for u in updates] == [e["balance_after_cents"] for e in moved]
    assert [u["bonus"] for u in updates] == [e["points_after"] for e in moved]
    assert updates[0]["record_balance"] == "消费 ¥88.00 alpha store 1"
    assert updates[0]["record_bonus"] == "积分 +88 alpha store 1"
    row = await bag.row(card)
    assert row["synced_seq"] == len(ledger)
    assert not row["dirty"] and row["last_error"] is None and row["synced_at"] is not None
    assert await SyncLog.count().run() == 0


async def test_a_card_nobody_added_costs_no_call(bag: Bag, sync: CardBagSync,
                                                  wechat_server: WechatStandIn) -> None:
    card = await bag.card()
    assert (await bag.cards.top_up(card["id"], 10_000)).status_code == 201
    await bag.charge(card, 3_000)
    for _ in range(3):
        await sequencer.number_chain(bag.world.a.id, wait=True)
        await sync.run_once()
    assert wechat_server.requests_to(MEMBERCARD_UPDATEUSER) == []
    assert wechat_server.requests_to(MEMBERCARD_ACTIVATE) == []
    assert wechat_server.token_fetches() == []


async def test_a_card_answers_whether_it_is_in_the_bag(bag: Bag, sync: CardBagSync) -> None:
    card = await bag.card()
    assert card["wechat"] is None
    assert (await bag.cards.card(card["id"]))["wechat"] is None
    await bag.put_in_bag(card)
    assert (await bag.cards.card(card["id"]))["wechat"] == {"in_card_bag": True,
                                                           "synced_at": None}
    await settle(sync, bag.world)
    mine = (await bag.client.get("/api/v1/me/cards",
                                 headers=bag.world.headers(bag.world.a.members[0]))).json()
    assert mine[0]["wechat"]["in_card_bag"] is True
    assert mine[0]["wechat"]["synced_at"] is not None


@pytest.mark.parametrize("errcode", [-1, 45009, None])
async def test_busy_and_timeouts_are_tried_again(bag: Bag, sync: CardBagSync,
                                                 wechat_server: WechatStandIn,
                                                 errcode: int | None) -> None:
    card = await bag.card()
    await bag.put_in_bag(card)
    await settle(sync, bag.world)
    assert (await bag.cards.top_up(card["id"], 10_000)).status_code == 201
    if errcode is None:
        wechat_server.hang(MEMBERCARD_UPDATEUSER, 3.0)  # past the client's 1 s timeout
    else:
        wechat_server.fail(MEMBERCARD_UPDATEUSER, errcode, times=2)
    await sequencer.number_chain(bag.world.a.id, wait=True)
    await sync.run_once()
    row = await bag.row(card)
    assert row["dirty"] and row["attempts"] == 1 and row["due_at"] > utcnow() - timedelta(1)
    assert row["last_errcode"] == errcode
    logged = await SyncLog.select().run()
    assert [(r["outcome"], r["errcode"], r["action"]) for r in logged] == [
        ("retry", errcode, "update")]
    await settle(sync, bag.world)
    assert wechat_figures(bag, card) == await o2o_figures(bag, card)
    row = await bag.row(card)
    assert row["attempts"] == 0 and row["last_error"] is None


async def test_a_refused_token_is_refreshed_once(bag: Bag, sync: CardBagSync,
                                                 wechat_server: WechatStandIn) -> None:
    card = await bag.card()
    await bag.put_in_bag(card)
    await settle(sync, bag.world)
    wechat_server.invalidate_tokens()
    assert (await bag.cards.top_up(card["id"], 10_000)).status_code == 201
    await settle(sync, bag.world)
    assert wechat_figures(bag, card) == await o2o_figures(bag, card)
    assert len(wechat_server.token_fetches(forced=True)) == 1
    assert await SyncLog.count().run() == 0


async def test_a_final_refusal_is_logged_and_skipped(bag: Bag, sync: CardBagSync,
                                                     wechat_server: WechatStandIn) -> None:
    card = await bag.card()
    await bag.put_in_bag(card)
    await settle(sync, bag.world)
    wechat_server.fail(MEMBERCARD_UPDATEUSER, 40073)
    assert (await bag.cards.top_up(card["id"], 10_000)).status_code == 201
    await settle(sync, bag.world)
    row = await bag.row(card)
    assert row["last_errcode"] == 40073 and not row["dirty"]
    assert wechat_figures(bag, card)["balance"] == 0  # that update never arrived
    logged = await SyncLog.select().run()
    assert [(r["outcome"], r["errcode"], r["seq"]) for r in logged] == [
        ("failed", 40073, row["synced_seq"])]
    # The next change carries the absolute figures: WeChat is right again.
    await bag.charge(card, 1_000)
    await settle(sync, bag.world)
    assert wechat_figures(bag, card) == await o2o_figures(bag, card)
    assert (await bag.row(card))["last_error"] is None


async def test_the_sweep_finds_what_the_feed_missed(bag: Bag, sync: CardBagSync) -> None:
    card = await bag.card()
    await bag.put_in_bag(card)
    await settle(sync, bag.world)
    assert (await bag.cards.top_up(card["id"], 7_000)).status_code == 201
    await sequencer.number_chain(bag.world.a.id, wait=True)
    # The feed's cursor jumps past the top-up's event (a reader that lost it).
    await FeedCursor.update({FeedCursor.last_sequence: 10**9}).where(
        FeedCursor.chain_id == bag.world.a.id).run()
    await sync.follow()
    assert not (await bag.row(card))["dirty"]
    async with write_transaction():
        assert await sync_repository.sweep(utcnow()) == 1
    await sync.send_round()
    assert wechat_figures(bag, card) == await o2o_figures(bag, card)


async def test_one_sender_per_card(bag: Bag, settings: Settings) -> None:
    card = await bag.card()
    await bag.put_in_bag(card)
    now = utcnow()
    until = now + timedelta(seconds=60)
    async with write_transaction():
        first = await sync_repository.claim(now, until, "one", 10)
    async with write_transaction():
        second = await sync_repository.claim(now, until, "two", 10)
    assert [r["card_id"] for r in first] == [uuid.UUID(card["id"])] and second == []
    # A lease that ran out (its process died) is anyone's again.
    await BagCard.update({BagCard.lease_until: now - timedelta(seconds=1)}, force=True).run()
    async with write_transaction():
        third = await sync_repository.claim(now, until, "two", 10)
    assert [r["lease_owner"] for r in third] == ["two"]


def test_retry_delays_double_with_jitter_and_a_cap() -> None:
    assert 2.5 <= retry_delay_s(1, 5) <= 5
    assert 5 <= retry_delay_s(2, 5) <= 10
    assert 1800 <= retry_delay_s(40, 5) <= 3600
    assert retry_delay_s(10**6, 5) <= 3600  # weeks of failures: no overflow


def _entry(kind: str, cents: int = 0, points: int = 0) -> dict[str, object]:
    return {"kind": kind, "delta_cents": cents, "delta_points": points}


@pytest.mark.parametrize(("kind", "cents", "zh", "en"), [
    ("charge", -8800, "消费 ¥88.00 静安店", "Spent ¥88.00 at 静安店"),
    ("top_up", 10000, "充值 +¥100.00 静安店", "Top-up +¥100.00 at 静安店"),
    ("reversal", 8800, "撤销 +¥88.00 静安店", "Reversed +¥88.00 at 静安店"),
    ("refund", -5000, "退款 ¥50.00 静安店", "Refund ¥50.00 at 静安店"),
])
def test_record_texts(kind: str, cents: int, zh: str, en: str) -> None:
    entry = _entry(kind, cents)
    assert records.balance_text(entry, "zh-CN", "静安店") == zh  # type: ignore[arg-type]
    assert records.balance_text(entry, "en", "静安店") == en  # type: ignore[arg-type]


def test_record_texts_fit_wechat() -> None:
    entry = _entry("charge", -8800, 88)
    assert records.balance_text(entry, "en", "Jing'an") == "Spent ¥88.00 at Jing'an"  # type: ignore[arg-type]
    assert records.bonus_text(entry, "en", "Jing'an") == "+88 points at Jing'an"  # type: ignore[arg-type]
    long = records.balance_text(entry, "zh-CN", "上海市静安区南京西路旗舰店")  # type: ignore[arg-type]
    assert long is not None and long.startswith("消费 ¥88.00 上海") and long.endswith("…")
    assert records.width(long) <= records.RECORD_WIDTH
    tiny = _entry("charge", -123_456_789_00)
    text = records.balance_text(tiny, "en", "A store with a name")  # type: ignore[arg-type]
    assert text is not None and text.startswith("Spent ¥123,456,789.00")
    assert records.balance_text(_entry("visit"), "en", None) is None  # type: ignore[arg-type]
    assert records.status_text("frozen", "zh-CN") == "已冻结"


async def test_a_chain_is_followed_from_its_first_card_in_a_bag(bag: Bag,
                                                                sync: CardBagSync) -> None:
    card = await bag.card()
    await bag.put_in_bag(card)
    assert await FeedCursor.count().run() == 0
    assert await sync.send_round() == 1  # activated; the chain's feed followed from now
    assert await FeedCursor.count().run() == 1
    assert (await bag.cards.top_up(card["id"], 3_000)).status_code == 201
    await sequencer.number_chain(bag.world.a.id, wait=True)
    assert await sync.follow() == 1
    assert await sync.send_round() == 1
    assert wechat_figures(bag, card) == await o2o_figures(bag, card)


async def test_a_card_added_again_while_pushed_is_activated_again(
        bag: Bag, sync: CardBagSync, wechat_server: WechatStandIn) -> None:
    card = await bag.card()
    await bag.put_in_bag(card)
    await settle(sync, bag.world)
    assert (await bag.cards.top_up(card["id"], 4_000)).status_code == 201
    await sequencer.number_chain(bag.world.a.id, wait=True)
    await sync.follow()
    now = utcnow()
    async with write_transaction():
        claimed = await sync_repository.claim(now, now + timedelta(seconds=60), sync.owner, 5)
    # The member removed and added the card meanwhile: the callback revives the row
    # (not activated, nothing synced), the lease untouched.
    await BagCard.update({BagCard.activated_at: None, BagCard.synced_seq: 0}).where(
        BagCard.card_id == uuid.UUID(card["id"])).run()
    await Push(sync, claimed[0]).run()
    assert (await bag.row(card))["dirty"]  # not cleared: it must be activated again
    await settle(sync, bag.world)
    shown = bag.in_wechat(card)
    assert shown is not None and shown["activations"] == 2
    assert wechat_figures(bag, card) == await o2o_figures(bag, card)
