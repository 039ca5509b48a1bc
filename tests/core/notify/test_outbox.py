"""The outbox in sandbox mode (inbox only), on both engines: the events of the cards
domain, the inbox and the delivery log, rollback, cancel and replace, due times, leases."""

# ruff: noqa: RUF001

from __future__ import annotations

import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.core.clock import utcnow
from app.core.db import savepoint, write_transaction
from app.core.notify import events, outbox
from app.core.notify import repository as repo
from app.core.notify.dispatcher import backoff_s
from tests.core.notify.conftest import API, get_json, inbox_count, rows, wait_for, wait_settled
from tests.world import World


def _data(n: int = 0) -> dict[str, str | int | None]:
    return {"card_name": f"Card {n}", "card_number": f"80000000000{n}"}


async def test_the_cards_domain_notifies_its_members(client: httpx.AsyncClient,
                                                    world: World) -> None:
    a, member = world.a, world.a.members[0]
    operator, clerk = world.headers(a.operator), world.headers(a.staff["alpha-clerk1"])
    store = str(a.stores[0])

    async def post(path: str, headers: dict[str, str], body: dict[str, object]) -> dict[
            str, object]:
        response = await client.post(API + path, json=body, headers=headers)
        assert response.status_code == 201, response.text
        return dict(response.json())

    prepaid = await post("/card-templates", operator, {
        "name": "Prepaid Gold Card For Our Very Best Customers", "kind": "stored_value",
        "points_per_yuan": 1})
    card = await post("/cards", clerk, {"template_id": prepaid["id"],
                                        "member_id": str(member.id), "store_id": store})
    await post(f"/cards/{card['id']}/top-ups", clerk, {"amount_cents": 50_000,
                                                       "store_id": store})
    code = (await client.get(f"{API}/cards/{card['id']}/code",
                             headers=world.headers(member))).json()["code"]
    await post("/redemptions", clerk, {"code": code, "store_id": store, "action": "charge",
                                       "amount_cents": 12_345})
    membership = await post("/card-templates", operator, {"name": "Club", "kind": "membership",
                                                          "points_per_yuan": 1})
    await post(f"/card-templates/{membership['id']}/claim", world.headers(member), {})
    now = utcnow()
    campaign = await post("/campaigns", operator, {
        "name": "Twenty off", "kind": "cash", "value_cents": 2_000, "total_quantity": 10,
        "valid_from": (now - timedelta(hours=1)).isoformat(),
        "valid_until": (now + timedelta(days=30)).isoformat()})
    voucher = await post(f"/campaigns/{campaign['id']}/claim", world.headers(member), {})
    issued = await post(f"/campaigns/{campaign['id']}/issue", operator,
                        {"member_ids": [str(a.members[1].id)]})
    assert len(issued["issued"]) == 1  # type: ignore[arg-type]
    await post("/redemptions", clerk, {"code": voucher["code"], "store_id": store,
                                       "amount_cents": 8_000})
    await wait_settled()

    log = await get_json(client, "/notifications", operator)
    assert sorted(n["event"] for n in log) == sorted([
        "card_issued", "balance_changed", "balance_changed", "card_issued", "voucher_issued",
        "voucher_issued", "redeemed"])
    assert {n["status"] for n in log} == {"sent"}
    assert all(n["attempts"] == 1 and n["sent_at"] and n["channel"] == "inbox" for n in log)
    assert set(log[0]) >= {"id", "event", "member_id", "status", "attempts", "last_error",
                           "created_at", "sent_at"}
    assert await get_json(client, "/notifications", world.headers(world.b.operator)) == []

    inbox = await get_json(client, "/me/inbox", world.headers(member))
    assert [m["event"] for m in inbox] == ["redeemed", "voucher_issued", "card_issued",
                                           "balance_changed", "balance_changed", "card_issued"]
    # In the chain's locale: zh-CN until an operator changes it.
    assert {m["locale"] for m in inbox} == {"zh-CN"}
    texts = {m["event"]: m["text"] for m in inbox}
    assert "Twenty off于" in texts["redeemed"] and "在alpha store 1使用" in texts["redeemed"]
    assert "¥20.00" in texts["redeemed"]
    charge = inbox[3]["text"]
    assert "消费 ¥123.45，余额 ¥376.55。" in charge, charge
    top_up = inbox[4]["text"]
    assert "充值 ¥500.00，余额 ¥500.00。" in top_up, top_up
    local = now.astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"{local.month}月{local.day}日" in top_up  # the store's local date
    assert inbox[3]["title"] == "余额变动"
    # The structured fields a page can word itself.
    assert inbox[3]["data"]["reason"] == "charge"
    assert (inbox[3]["data"]["delta_cents"], inbox[3]["data"]["balance_cents"]) == (
        -12_345, 37_655)
    assert inbox[3]["store_name"] == "alpha store 1"
    other = await get_json(client, "/me/inbox", world.headers(a.members[1]))
    assert [m["event"] for m in other] == ["voucher_issued"]
    assert "您获得一张优惠券：Twenty off（立减 ¥20.00），有效期至" in other[0]["text"]
    assert other[0]["data"]["campaign_name"] == "Twenty off"
    assert other[0]["store_name"] is None

    # An operator switches the chain to English: every message reads in it, old ones too.
    changed = await client.patch(API + "/chain", json={"locale": "en"}, headers=operator)
    assert changed.status_code == 200, changed.text
    assert changed.json()["locale"] == "en"
    inbox = await get_json(client, "/me/inbox", world.headers(member))
    assert {m["locale"] for m in inbox} == {"en"}
    texts = {m["event"]: m["text"] for m in inbox}
    assert "Twenty off was used at alpha store 1" in texts["redeemed"]
    charge = inbox[3]["text"]
    assert "charge of ¥123.45" in charge and "Balance ¥376.55" in charge, charge
    top_up = inbox[4]["text"]
    assert "top-up of ¥500.00" in top_up and "Balance ¥500.00" in top_up, top_up
    assert f"{local.day} {local:%b}" in top_up
    assert inbox[3]["title"] == "Balance changed"
    other = await get_json(client, "/me/inbox", world.headers(a.members[1]))
    assert "Twenty off (¥20.00 off), valid until" in other[0]["text"]


async def test_who_may_read_the_log_and_the_inbox(client: httpx.AsyncClient,
                                                  world: World) -> None:
    a = world.a
    for principal in (a.members[0], a.staff["alpha-manager"], a.staff["alpha-clerk1"]):
        response = await client.get(f"{API}/notifications", headers=world.headers(principal))
        assert response.status_code == 403, principal.role
        assert response.json()["code"] == "forbidden"
    staff_inbox = await client.get(f"{API}/me/inbox", headers=world.headers(a.operator))
    assert staff_inbox.status_code == 403
    assert (await client.get(f"{API}/me/inbox")).status_code == 401
    for params in ({"status": "lost"}, {"event": "party"}, {"limit": "0"},
                   {"member_id": "nope"}):
        bad = await client.get(f"{API}/notifications", params=params,
                               headers=world.headers(a.operator))
        assert bad.status_code == 400, params
        assert bad.json()["code"] == "validation_error"


async def test_a_rolled_back_change_sends_nothing(client: httpx.AsyncClient,
                                                 world: World) -> None:
    member = world.a.members[0]
    with pytest.raises(RuntimeError):
        async with write_transaction():
            await outbox.emit(events.CARD_ISSUED, chain_id=world.a.id, member_id=member.id,
                              data=_data(1), dedupe_key="rolled-back")
            raise RuntimeError("the change failed after emitting")
    async with write_transaction():
        await outbox.emit(events.CARD_ISSUED, chain_id=world.a.id, member_id=member.id,
                          data=_data(2), dedupe_key="kept")
        with pytest.raises(RuntimeError):
            async with savepoint():  # one member of a bulk issue refused
                await outbox.emit(events.CARD_ISSUED, chain_id=world.a.id,
                                  member_id=member.id, data=_data(3), dedupe_key="refused")
                raise RuntimeError("refused")
    await wait_settled()
    assert [r["dedupe_key"] for r in await rows()] == ["kept"]
    assert await inbox_count(member.id) == 1


async def test_emit_refuses_what_it_could_never_deliver(client: httpx.AsyncClient,
                                                       world: World) -> None:
    member = world.a.members[0]
    for event, data in (("birthday", {}), (events.REDEEMED, {"amount_cents": 1.5}),
                        (events.REDEEMED, {"amount_cents": True})):
        with pytest.raises(ValueError):
            await outbox.emit(event, chain_id=world.a.id, member_id=member.id,
                              data=data)  # type: ignore[arg-type]
    assert await rows() == []


async def test_cancel_and_emit_again_under_one_key(client: httpx.AsyncClient,
                                                   world: World) -> None:
    """A booking's reminder: cancelled with the booking, or moved (emitted again under its
    key); once sent, the same key adds nothing."""
    member, chain = world.a.members[0], world.a.id
    key = f"booking:{uuid.uuid4()}:reminder"
    later = utcnow() + timedelta(hours=5)
    start = {"service_name": "Haircut", "start": "2026-11-21T18:00:00+00:00",
             "store_name": "alpha store 1", "timezone": "Asia/Shanghai"}
    await outbox.emit(events.BOOKING_REMINDER, chain_id=chain, member_id=member.id, data=start,
                      due_at=later, dedupe_key=key)
    await outbox.cancel(key)
    [row] = await rows(dedupe_key=key)
    assert row["status"] == "cancelled"
    log = await get_json(client, "/notifications", world.headers(world.a.operator))
    assert log == []  # cancelled rows only when asked for
    assert len(await get_json(client, "/notifications", world.headers(world.a.operator),
                              status="cancelled")) == 1

    moved = {**start, "start": "2026-11-22T02:30:00+00:00"}
    await outbox.emit(events.BOOKING_REMINDER, chain_id=chain, member_id=member.id, data=moved,
                      due_at=later, dedupe_key=key)
    await outbox.emit(events.BOOKING_REMINDER, chain_id=chain, member_id=member.id, data=moved,
                      dedupe_key=key)  # moved again, now due
    await wait_settled()
    [row] = await rows(dedupe_key=key)
    assert (row["status"], row["attempts"]) == ("sent", 1)
    await outbox.emit(events.BOOKING_REMINDER, chain_id=chain, member_id=member.id, data=start,
                      dedupe_key=key)
    await outbox.cancel(key)  # too late: it was sent
    assert [(r["status"], r["data"]["start"]) for r in await rows(dedupe_key=key)] == [
        ("sent", moved["start"])]
    inbox = await get_json(client, "/me/inbox", world.headers(member))
    assert len(inbox) == 1
    assert "提醒：您预约的Haircut（alpha store 1）将于 " in inbox[0]["text"]
    assert "11月22日 10:30 开始。" in inbox[0]["text"]


async def test_a_row_waits_until_it_is_due(client: httpx.AsyncClient, world: World) -> None:
    member = world.a.members[0]
    await outbox.emit(events.CARD_ISSUED, chain_id=world.a.id, member_id=member.id,
                      data=_data(), due_at=utcnow() + timedelta(seconds=1.0))
    [row] = await rows()
    assert row["status"] == "pending"
    await wait_for(lambda: _status_is(row["id"], "sent"), 5, "the row to fall due")
    [sent] = await rows()
    assert sent["sent_at"] >= row["due_at"]


async def _status_is(notification_id: uuid.UUID, status: str) -> bool:
    return [r["status"] for r in await rows(id=notification_id)] == [status]


async def test_a_row_leased_by_a_dead_process_is_delivered_after_its_lease(
        client: httpx.AsyncClient, world: World) -> None:
    member = world.a.members[0]
    # A row due in a moment, so this process's dispatcher cannot claim it first.
    await outbox.emit(events.CARD_ISSUED, chain_id=world.a.id, member_id=member.id,
                      data=_data(), due_at=utcnow() + timedelta(seconds=0.3))
    at = utcnow() + timedelta(seconds=0.3)
    async with write_transaction():  # the caller owns the claim's transaction
        claimed = await repo.claim(at, at + timedelta(seconds=1.5), "dead-process", 10)
    assert len(claimed) == 1  # ... and never comes back: its lease must run out
    async with write_transaction():
        assert await repo.claim(at, at + timedelta(seconds=1.5), "another", 10) == []
    await wait_for(lambda: _status_is(claimed[0]["id"], "sent"), 10, "the lease to run out")
    [row] = await rows()
    assert row["attempts"] == 2
    assert row["sent_at"] >= at + timedelta(seconds=1.5)
    assert await inbox_count(member.id) == 1
    # The dead process's outcome, were it to come back, is not recorded over the new one.
    async with write_transaction():
        assert await repo.finish("dead-process", [(row["id"], {"status": "failed"})]) == 0


def test_backoff_doubles_within_jitter_and_is_capped() -> None:
    for attempts in range(1, 8):
        expected = 5.0 * 2 ** (attempts - 1)
        delays = [backoff_s(attempts, 5.0) for _ in range(50)]
        assert all(expected / 2 <= d <= expected for d in delays)
        assert len(set(delays)) > 1  # jittered
    assert backoff_s(40, 5.0) <= 3600


async def test_housekeeping_forgets_old_finished_rows(client: httpx.AsyncClient) -> None:
    chain, member = uuid.uuid4(), uuid.uuid4()
    for n, key in enumerate(("to-send", "to-cancel", "later")):
        await outbox.emit(events.CARD_ISSUED, chain_id=chain, member_id=member, data=_data(n),
                          dedupe_key=key,
                          due_at=utcnow() + timedelta(days=1) if key == "later" else None)
    await outbox.cancel("to-cancel")
    [to_send] = await rows(dedupe_key="to-send")
    await wait_for(lambda: _status_is(to_send["id"], "sent"))
    soon = utcnow() + timedelta(seconds=1)
    await repo.purge(outbox_before=soon, inbox_before=utcnow() - timedelta(days=1))
    assert [r["dedupe_key"] for r in await rows()] == ["later"]  # pending stays
    assert await inbox_count(member) == 1
    await repo.purge(outbox_before=soon, inbox_before=soon)
    assert await inbox_count(member) == 0
