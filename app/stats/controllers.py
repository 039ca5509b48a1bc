"""HTTP endpoints of the stats (operators: the chain; managers: their stores)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from litestar import Controller, Response, get
from litestar.params import QueryParameter

from app.core.auth import MANAGERS, OPERATORS
from app.core.params import Caller
from app.stats import service
from app.stats.schemas import (
    CohortsOut,
    LiabilityOut,
    Metric,
    OverviewOut,
    ServicesOut,
    StoresOut,
    TimeseriesOut,
)

From = Annotated[date, QueryParameter(name="from", description="First local date, inclusive")]
To = Annotated[date, QueryParameter(description="Last local date, inclusive (at most 366 days)")]
StoreId = Annotated[uuid.UUID | None, QueryParameter(
    description="One store (default: the whole chain; a manager's own stores)")]
_SCOPE = ("Operators: the chain or one store; managers: their stores or one of them "
          "(another store is 404). Dates are each store's own local dates.")


class StatsController(Controller):
    path = "/stats"
    tags = ["stats"]
    guards = [MANAGERS]

    @get("/overview", summary="Figures of a range", description=_SCOPE)
    async def overview(self, principal: Caller, from_: From, to: To,
                       store_id: StoreId = None) -> OverviewOut:
        return await service.overview(principal, from_, to, store_id)

    @get("/timeseries", summary="One figure per day, zero days included", description=_SCOPE)
    async def timeseries(self, principal: Caller, metric: Annotated[Metric, QueryParameter()],
                         from_: From, to: To, store_id: StoreId = None) -> TimeseriesOut:
        return await service.timeseries(principal, metric, from_, to, store_id)

    @get("/export.csv", summary="A CSV row per store and day", media_type="text/csv",
         description=_SCOPE)
    async def export(self, principal: Caller, from_: From, to: To,
                     store_id: StoreId = None) -> Response[str]:
        body = await service.export_csv(principal, from_, to, store_id)
        name = f"o2o-stats-{from_}-{to}" + (f"-{store_id}" if store_id else "")
        # Litestar appends "; charset=utf-8" to a text/ media type itself.
        return Response(body, media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="{name}.csv"'})

    @get("/stores", summary="The stores side by side", description=_SCOPE)
    async def stores(self, principal: Caller, from_: From, to: To) -> StoresOut:
        return await service.compare_stores(principal, from_, to)

    @get("/services", summary="Top services by bookings", description=_SCOPE)
    async def services(self, principal: Caller, from_: From, to: To, store_id: StoreId = None,
                       limit: Annotated[int, QueryParameter(ge=1, le=100)] = 10,
                       ) -> ServicesOut:
        return await service.top_services(principal, from_, to, store_id, limit)

    @get("/cohorts", summary="Members by joining month and their later activity",
         description=_SCOPE + " Months are YYYY-MM; default the last 12 (at most 24).")
    async def cohorts(
        self, principal: Caller,
        from_: Annotated[str | None, QueryParameter(name="from", max_length=7)] = None,
        to: Annotated[str | None, QueryParameter(max_length=7)] = None,
        store_id: StoreId = None,
    ) -> CohortsOut:
        return await service.cohorts(principal, from_, to, store_id)

    @get("/liability", summary="Money held on the chain's cards at a date's end",
         guards=[OPERATORS],
         description="Operators (chain-wide keys). The end of the local date in the "
                     "chain's zone (its first store's); paid and bonus money, and the "
                     "cards holding any. A date still to come answers what is held now.")
    async def liability(self, principal: Caller,
                        date: Annotated[date, QueryParameter(  # its name names its errors
                            description="A local date YYYY-MM-DD")],
                        ) -> LiabilityOut:
        return await service.liability(principal, date)


CONTROLLERS = [StatsController]
