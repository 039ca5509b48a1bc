"""The card bag's sync against the races of a real deployment (review of issue 21): a
WeChat call slower than the lease, a card removed from the bag or added again while a
sender holds it. Both engines, against the WeChat stand-in."""

from __future__ import annotations

import asyncio
import dataclasses
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
from cardbag import sync_repository
from cardbag.sync import CardBagSync, Push
from cardbag.tables import BagCard, SyncLog
from cards.tables import Card
from tests.conftest import TEST_SECRET, make_settings
from tests.stand_ins import fixtures as stand_ins
from tests.stand_ins.wechat import MEMBERCARD_UPDATEUSER, WechatStandIn
from tests.world import World

from .sync_world import Bag, all_clean, make_bag, o2o_figures, settle, wechat_figures

wechat_server = stand_ins.wechat_server

LEASE_S = 1.0


@pytest.fixture
def settings(database_url: str, wechat_server: WechatStandIn) -> Settings:
    """A short lease and a WeChat client that waits longer than it (5 s)."""
    return make_settings(database_url, wechat_mode="live", wechat_api_base=wechat_server.url,
                         notify_dispatcher=False, webhook_worker=False, cardbag_sync=False,
                         marketing_runner=False, pay_poller=False, wechat_timeout_s=5.0,
                         cardbag_retry_base_s=0.01, cardbag_lease_s=LEASE_S)


@pytest.fixture
async def client_pair(settings: Settings) -> AsyncIterator[tuple[CardBagSync, CardBagSync]]:
    """Two senders (two processes' worth: each its own lease owner)."""
    clients = [WechatClient(settings.wechat_api_base, timeout=settings.wechat_timeout_s)
               for _ in range(2)]
    yield (CardBagSync(settings, clients[0], SecretBox(TEST_SECRET)),
           CardBagSync(settings, clients[1], SecretBox(TEST_SECRET)))
    for c in clients:
        await c.close()


@pytest.fixture
async def bag(client: httpx.AsyncClient, world: World, wechat_server: WechatStandIn) -> Bag:
    return await make_bag(client, world, wechat_server)


def _folded(values: list[object]) -> list[object]:
    """Consecutive repeats folded (an entry may be sent again: absolute figures)."""
    return [v for i, v in enumerate(values) if i == 0 or values[i - 1] != v]


async def test_a_call_slower_than_the_lease_keeps_the_order(
        bag: Bag, client_pair: tuple[CardBagSync, CardBagSync],
        wechat_server: WechatStandIn, settings: Settings) -> None:
    """Sender A's update is slow (WeChat carries it out late); its lease must not run
    out under it so that B pushes the card's later entries first: the call is cut
    within the lease, and the retry's backoff lets the late call land first."""
    one, two = client_pair
    two.settings = dataclasses.replace(settings, cardbag_retry_base_s=0.01)
    one.settings = dataclasses.replace(settings, cardbag_retry_base_s=6.0)
    card = await bag.card()
    await bag.put_in_bag(card)
    await settle(one, bag.world)
    assert (await bag.cards.top_up(card["id"], 10_000)).status_code == 201
    assert (await bag.cards.top_up(card["id"], 5_000)).status_code == 201
    await sequencer.number_chain(bag.world.a.id, wait=True)
    await one.follow()
    wechat_server.slow(MEMBERCARD_UPDATEUSER, 2.5)  # carried out after 2.5 s
    first = asyncio.create_task(one.send_round())
    await asyncio.sleep(LEASE_S + 0.3)
    for _ in range(100):  # B pushes whatever it can claim, as soon as it can
        await two.send_round()
        if await all_clean() and first.done():
            break
        await asyncio.sleep(0.05)
    await first
    await asyncio.sleep(2.5)  # any late call has landed
    assert wechat_figures(bag, card) == await o2o_figures(bag, card)
    balances = [u["balance"] for u in bag.in_wechat(card)["updates"]]  # type: ignore[index]
    assert _folded(balances) == [10_000, 15_000]


async def test_a_card_removed_while_pushed_stops_the_push(
        bag: Bag, client_pair: tuple[CardBagSync, CardBagSync],
        wechat_server: WechatStandIn) -> None:
    sync, _ = client_pair
    card = await bag.card()
    await bag.put_in_bag(card)
    await settle(sync, bag.world)
    for cents in (1_000, 2_000, 3_000, 4_000):
        assert (await bag.cards.top_up(card["id"], cents)).status_code == 201
    await sequencer.number_chain(bag.world.a.id, wait=True)
    await sync.follow()
    now = utcnow()
    async with write_transaction():
        claimed = await sync_repository.claim(now, now + timedelta(seconds=60), sync.owner, 5)
    # The member deletes the card from the bag (user_del_card) while it is pushed.
    wechat_server.remove_card(bag.wechat_card_id, card["number"])
    await BagCard.update({BagCard.state: "removed", BagCard.removed_at: utcnow(),
                          BagCard.dirty: False}).where(
        BagCard.card_id == uuid.UUID(card["id"])).run()
    await Push(sync, claimed[0]).run()
    # One call found out (WeChat: deleted); the rest of the entries were not sent.
    assert len(wechat_server.requests_to(MEMBERCARD_UPDATEUSER)) <= 1
    assert await SyncLog.count().run() <= 1
    row = await bag.row(card)
    assert row["state"] == "removed" and not row["dirty"] and row["lease_owner"] is None


async def test_a_card_added_again_during_its_activation_is_activated_again(
        bag: Bag, client_pair: tuple[CardBagSync, CardBagSync],
        wechat_server: WechatStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    """The activation reached WeChat, then the member deleted the card and added it
    again (WeChat's new copy is not activated) before the sender wrote it down: the
    sender's write belongs to the old stay and must not land on the new one."""
    sync, _ = client_pair
    card = await bag.card()
    assert (await bag.cards.top_up(card["id"], 6_000)).status_code == 201
    await bag.put_in_bag(card)
    original = sync.client.membercard_activate

    async def activate_then_readd(token: str, body: dict[str, object]) -> None:
        await original(token, body)
        state = wechat_server.member_cards[(bag.wechat_card_id, card["number"])]
        state.activated = False  # WeChat's copy of the new stay
        await BagCard.update({BagCard.activated_at: None, BagCard.synced_seq: 0,
                              BagCard.added_at: utcnow(), BagCard.dirty: True,
                              BagCard.due_at: utcnow()}).where(
            BagCard.card_id == uuid.UUID(card["id"])).run()

    monkeypatch.setattr(sync.client, "membercard_activate", activate_then_readd)
    assert await sync.send_round() == 1
    monkeypatch.setattr(sync.client, "membercard_activate", original)
    row = await bag.row(card)
    assert row["activated_at"] is None and row["dirty"] and row["lease_owner"] is None
    await settle(sync, bag.world)
    shown = bag.in_wechat(card)
    assert shown is not None and shown["activated"] and shown["activations"] == 2
    assert wechat_figures(bag, card) == await o2o_figures(bag, card)


async def test_a_card_that_lapses_shows_expired_in_wechat(
        bag: Bag, client_pair: tuple[CardBagSync, CardBagSync],
        wechat_server: WechatStandIn) -> None:
    """A card past its validity answers ``expired`` before anything writes it down (no
    ledger entry, no event): the sweep finds it, WeChat's face says so, and the card
    is clean after (not pushed again every round)."""
    sync, _ = client_pair
    card = await bag.card()
    await bag.put_in_bag(card)
    await settle(sync, bag.world)
    await Card.update({Card.expires_at: utcnow() - timedelta(minutes=1)}).where(
        Card.id == uuid.UUID(card["id"])).run()
    assert (await bag.cards.card(card["id"]))["status"] == "expired"
    await settle(sync, bag.world)
    shown = bag.in_wechat(card)
    assert shown is not None and shown["custom_field_value2"] == "已过期"
    calls = len(wechat_server.requests_to(MEMBERCARD_UPDATEUSER))
    await sync.run_once()
    assert len(wechat_server.requests_to(MEMBERCARD_UPDATEUSER)) == calls
