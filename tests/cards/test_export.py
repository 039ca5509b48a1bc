"""GET /members/export.csv (issue 18, decision 045): every member with their cards,
streamed in keyset pages, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import httpx
import pytest

from cards import export
from cards import repository as repo
from tests.cards.conftest import API, Cards

CSV = {"Content-Type": "text/csv"}


async def _import(cards: Cards, body: str) -> None:
    response = await cards.client.post(
        f"{API}/imports/members", content=body.encode(),
        headers={**CSV, **cards.world.headers(cards.world.a.operator)})
    assert response.status_code == 200, response.text


async def _export(cards: Cards) -> tuple[httpx.Response, list[dict[str, str]]]:
    response = await cards.client.get(f"{API}/members/export.csv",
                                      headers=cards.world.headers(cards.world.a.operator))
    assert response.status_code == 200, response.text
    return response, list(csv.DictReader(io.StringIO(response.text)))


async def test_one_row_per_card_and_one_for_a_member_without(cards: Cards) -> None:
    prepaid = await cards.template(name="Prepaid", kind="stored_value", points_per_yuan=2)
    times = await cards.template(name="Ten cuts", kind="times", initial_visits=10)
    await _import(cards, "external_id,name,phone,birthday,card_template_id,"
                         "opening_balance_cents,opening_points,opening_visits\n"
                         f"e-1,Two Cards,13900000011,1991-02-03,{prepaid['id']},500,40,\n"
                         "e-2,No Card,,,,,,\n")
    await _import(cards, f"external_id,card_template_id,opening_visits\ne-1,{times['id']},4\n")
    response, rows = await _export(cards)
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == 'attachment; filename="o2o-members.csv"'
    assert list(rows[0]) == list(export.HEADER)
    # Every member of the chain (the world's own too), never another chain's.
    member_ids = {r["member_id"] for r in rows}
    assert {str(m.id) for m in cards.world.a.members} <= member_ids
    assert not {str(m.id) for m in cards.world.b.members} & member_ids
    two = [r for r in rows if r["external_id"] == "e-1"]
    assert [(r["kind"], r["balance_cents"], r["points"], r["visits_left"], r["status"])
            for r in two] == [("stored_value", "500", "40", "", "active"),
                              ("times", "0", "0", "4", "active")]
    # An imported opening balance is paid money.
    assert [(r["paid_balance_cents"], r["bonus_balance_cents"]) for r in two] == [
        ("500", "0"), ("0", "0")]
    assert {(r["name"], r["phone"], r["birthday"]) for r in two} == {
        ("Two Cards", "13900000011", "1991-02-03")}
    assert two[0]["template_name"] == "Prepaid" and two[0]["template_id"] == prepaid["id"]
    [none] = [r for r in rows if r["external_id"] == "e-2"]
    assert none["card_id"] == none["kind"] == none["balance_cents"] == ""
    # Ordered by member id: the keyset the pages follow.
    ids = [r["member_id"] for r in rows]
    assert ids == sorted(ids)


async def test_the_export_streams_in_pages(cards: Cards, monkeypatch: pytest.MonkeyPatch) -> None:
    await _import(cards, "external_id,name\n" + "".join(f"p-{n:05d},Member {n}\n"
                                                        for n in range(2_500)))
    pages: list[int] = []
    real = repo.export_members

    async def counted(chain_id: uuid.UUID, after: uuid.UUID | None,
                      limit: int) -> list[dict[str, Any]]:
        page = await real(chain_id, after, limit)
        pages.append(len(page))
        return page

    monkeypatch.setattr(repo, "export_members", counted)
    response, rows = await _export(cards)
    assert "content-length" not in response.headers  # sent as it is read
    total = 2_500 + len(cards.world.a.members)
    assert len(rows) == total
    assert len({r["member_id"] for r in rows}) == total  # none twice, none lost
    assert pages == [1000, 1000, total - 2000]
    assert all(p <= export.EXPORT_BATCH for p in pages)


async def test_cells_never_start_a_formula(cards: Cards) -> None:
    await _import(cards, "external_id,name,phone\n"
                         "=HYPERLINK(\"http://x\"),=SUM(A1:A9),+8613800000000\n"
                         "@ext,-minus,\n")
    _, rows = await _export(cards)
    [formula] = [r for r in rows if r["name"].endswith("SUM(A1:A9)")]
    assert formula["name"] == "'=SUM(A1:A9)"
    assert formula["external_id"] == "'=HYPERLINK(\"http://x\")"
    assert formula["phone"] == "'+8613800000000"
    [at] = [r for r in rows if r["name"] == "'-minus"]
    assert at["external_id"] == "'@ext"
    # Read back, such a cell loses the apostrophe again: an exported name re-imports as
    # itself (the stored value never had one).
    await _import(cards, "external_id,name\n'@ext,'-minus\n")
    _, again = await _export(cards)
    assert [r["name"] for r in again if r["external_id"] == "'@ext"] == ["'-minus"]


async def test_only_operators_export(cards: Cards) -> None:
    for who in (cards.world.a.staff["alpha-manager"], cards.world.a.members[0]):
        response = await cards.client.get(f"{API}/members/export.csv",
                                          headers=cards.world.headers(who))
        assert response.status_code == 403
