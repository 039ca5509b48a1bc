"""Issue 17, wrong 5: the CSV export follows the dashboard's store filter. ``store_id``
limits the rows to that store, with the overview's scope rules (a manager only their
stores; another store is 404), and the file's name says which store it holds."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import httpx
import pytest

from app.core.auth import Principal
from tests.stats.test_stats import local_today
from tests.world import World

API = "/api/v1"
pytestmark = pytest.mark.postgres


async def _export(client: httpx.AsyncClient, world: World, who: Principal,
                  **params: Any) -> httpx.Response:
    today = local_today("Asia/Shanghai")
    window = {"from": (today - timedelta(days=2)).isoformat(), "to": today.isoformat()}
    return await client.get(f"{API}/stats/export.csv", headers=world.headers(who),
                            params={**window, **params})


def _stores_in(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [row["store_id"] for row in csv.DictReader(io.StringIO(response.text))]


async def test_the_csv_export_keeps_to_the_chosen_store(client: httpx.AsyncClient,
                                                        world: World) -> None:
    alpha = world.a
    first, second = (str(s) for s in alpha.stores[:2])
    everything = await _export(client, world, alpha.operator)
    assert set(_stores_in(everything)) == {str(s) for s in alpha.stores}
    assert "-" + first not in everything.headers["content-disposition"]
    one = await _export(client, world, alpha.operator, store_id=second)
    assert _stores_in(one) == [second] * 3  # three days, one store
    assert one.headers["content-disposition"].endswith(f'-{second}.csv"')
    manager = alpha.staff["alpha-manager"]  # runs the first store only
    assert _stores_in(await _export(client, world, manager)) == [first] * 3
    assert _stores_in(await _export(client, world, manager, store_id=first)) == [first] * 3
    hidden = await _export(client, world, manager, store_id=second)
    assert (hidden.status_code, hidden.json()["code"]) == (404, "not_found")
    foreign = await _export(client, world, alpha.operator, store_id=str(world.b.stores[0]))
    assert (foreign.status_code, foreign.json()["code"]) == (404, "not_found")
