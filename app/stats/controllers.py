"""HTTP endpoints of the stats (operators: the chain; managers: their stores)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from litestar import Controller, Response, get
from litestar.params import FromPath, QueryParameter

from app.core.auth import MANAGERS, OPERATORS
from app.core.params import Caller
from app.stats import results, service
from app.stats.schemas import (
    CampaignDailyOut,
    CampaignResultOut,
    CohortsOut,
    LiabilityOut,
    Metric,
    OverviewOut,
    ReferralResultsOut,
    ServicesOut,
    SourceResultOut,
    StoresOut,
    TimeseriesOut,
)

From = Annotated[date, QueryParameter(name="from", description="First local date, inclusive")]
To = Annotated[date, QueryParameter(description="Last local date, inclusive (at most 366 days)")]
StoreId = Annotated[uuid.UUID | None, QueryParameter(
    description="One store (default: the whole chain; a manager's own stores)")]
ChainFrom = Annotated[date, QueryParameter(
    name="from", description="First local date of the chain's zone, inclusive")]
_RESULTS = ("Operators (a campaign is the chain's). The vouchers issued on the local dates "
            "from..to of the chain's zone and what became of them: redeemed (not "
            "reversed, at any time), the rate, the discount and bills of those "
            "redemptions, and the members who came back within 30 days of theirs.")
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


    # --- campaign results (issue 20; app.stats.results says what each figure is) ---------

    @get("/campaigns", summary="What each campaign's vouchers did", guards=[OPERATORS],
         description=_RESULTS)
    async def campaigns(self, principal: Caller, from_: ChainFrom,
                        to: To) -> list[CampaignResultOut]:
        return await results.campaign_results(principal, from_, to)

    @get("/campaigns.csv", summary="The campaign results as CSV", guards=[OPERATORS],
         media_type="text/csv", description=_RESULTS + " Names that would start a "
         "spreadsheet formula get a leading apostrophe.")
    async def campaigns_csv(self, principal: Caller, from_: ChainFrom,
                            to: To) -> Response[str]:
        body = await results.campaigns_csv(principal, from_, to)
        return Response(body, media_type="text/csv", headers={
            "Content-Disposition":
                f'attachment; filename="o2o-campaigns-{from_}-{to}.csv"'})

    @get("/campaigns/{campaign_id:uuid}/daily", guards=[OPERATORS],
         summary="A campaign's vouchers issued and redeemed per day, zero days included",
         description="Operators. Local dates of the chain's zone: vouchers issued that "
                     "day, and redemptions (not reversed) of the campaign's vouchers made "
                     "that day. Another chain's campaign is 404.")
    async def campaign_daily(self, principal: Caller, campaign_id: FromPath[uuid.UUID],
                             from_: ChainFrom, to: To) -> CampaignDailyOut:
        return await results.campaign_daily(principal, campaign_id, from_, to)

    @get("/automations", summary="What each automation's vouchers did", guards=[OPERATORS],
         description=_RESULTS + " One row per automation and campaign.")
    async def automations(self, principal: Caller, from_: ChainFrom,
                          to: To) -> list[SourceResultOut]:
        return await results.source_results(principal, "automation", from_, to)

    @get("/jobs", summary="What each issuing job's vouchers did", guards=[OPERATORS],
         description=_RESULTS + " One row per job (its campaign's name).")
    async def jobs(self, principal: Caller, from_: ChainFrom,
                   to: To) -> list[SourceResultOut]:
        return await results.source_results(principal, "job", from_, to)


    @get("/referrals", summary="The referral program's figures", guards=[OPERATORS],
         description="Operators. Invites made on the local dates from..to of the chain's "
                     "zone (invited, of them still pending), invites decided then "
                     "(rewarded, refused), and what the vouchers each side got then did "
                     "(figures as GET /stats/campaigns').")
    async def referrals(self, principal: Caller, from_: ChainFrom,
                        to: To) -> ReferralResultsOut:
        return await results.referral_results(principal, from_, to)


CONTROLLERS = [StatsController]
