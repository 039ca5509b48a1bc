"""Campaign results (issue 20): what the vouchers issued in a range did. Operators only:
a campaign is the chain's, not a store's (as ``GET /campaigns/{id}/results``, decision
036).

A range is inclusive local dates ``from``..``to`` in the chain's zone (``chain.timezone``),
at most 366 days. The figures follow the vouchers *issued* in it (a cohort), whenever
they were used:

- ``issued``: vouchers created in the range, whatever their source (claimed, issued,
  by a job, an automation, a referral). A gift keeps the voucher (its id and creation):
  it is counted once, for its issue, never again for the transfer.
- ``redeemed``: of those, the ones with a redemption not reversed (at any time, up to now).
- ``redemption_rate``: redeemed / issued rounded to 4 places, 0.0 when none was issued.
- ``discount_cents``, ``bill_cents``: the sums of those redemptions' discount and bill
  (``amount_cents``; a redemption without a bill adds 0).
- ``returning_members_30d``: distinct members who redeemed one of those vouchers and came
  back on one of the 30 local days after that redemption's day (d+1..d+30): a redemption
  not reversed of any kind at any store of the chain, or a booking checked in (or
  completed without a check-in). A second voucher used on the same day is the same visit,
  not a return. For redemptions less than 30 days old the figure can still grow.

Per automation and per job the same figures, by the voucher's ``source``/``source_id``.
The daily series for the chart counts *events* per day instead: vouchers issued that day,
and redemptions of the campaign's vouchers made that day.
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from app.core.auth import Principal
from app.core.errors import Forbidden, NotFound
from app.stats import results_repository as repo
from app.stats.results_repository import Key, Only, Side
from app.stats.schemas import (
    CampaignDailyOut,
    CampaignDay,
    CampaignFigures,
    CampaignResultOut,
    ReferralResultsOut,
    SourceResultOut,
)
from app.stats.service import check_range, csv_cell
from marketing.referral import service as referral
from stores import service as stores


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _operator(principal: Principal) -> None:
    if not principal.is_operator:
        raise Forbidden("campaign results are the chain's: operators only")


async def chain_zone(chain_id: uuid.UUID) -> ZoneInfo:
    """The zone of the chain's local dates (``chain.timezone``, default Asia/Shanghai)."""
    return await stores.chain_timezone(chain_id)


async def voucher_results(chain_id: uuid.UUID, *, first: date, last: date,
                          source: str | None = None, source_id: uuid.UUID | None = None,
                          by_source: bool = False,
                          side: Side | None = None) -> dict[Key, CampaignFigures]:
    """The figures of the vouchers issued on the local dates ``first``..``last``, per
    (campaign, source_id) — source_id None unless ``by_source`` — of ``source`` (claim,
    issue, job, automation, referral, gift) and ``source_id`` when given, and of one
    ``side`` of the chain's referrals when given."""
    check_range(first, last)
    only = Only(source, source_id, side, chain_id)
    zone = await chain_zone(chain_id)
    lo, hi = repo.midnight(first, zone), repo.midnight(last + timedelta(days=1), zone)
    group: repo.Group = "source" if by_source else "campaign"
    # Two reads, each on its own pooled connection (PostgreSQL).
    tallies, back = await asyncio.gather(repo.tallies(chain_id, lo, hi, group, only),
                                         repo.returning(chain_id, lo, hi, group, zone, only))
    return {key: CampaignFigures(
        issued=t["issued"], redeemed=t["redeemed"],
        redemption_rate=_rate(t["redeemed"], t["issued"]),
        discount_cents=t["discount_cents"], bill_cents=t["bill_cents"],
        returning_members_30d=back.get(key, 0)) for key, t in tallies.items()}


_NONE = CampaignFigures(issued=0, redeemed=0, redemption_rate=0.0, discount_cents=0,
                        bill_cents=0, returning_members_30d=0)


async def campaign_results(principal: Principal, first: date,
                           last: date) -> list[CampaignResultOut]:
    """Every campaign that issued a voucher in the range or was valid during it."""
    _operator(principal)
    figures = await voucher_results(principal.chain_id, first=first, last=last)
    zone = await chain_zone(principal.chain_id)
    lo, hi = repo.midnight(first, zone), repo.midnight(last + timedelta(days=1), zone)
    result = []
    for campaign in await repo.campaigns(principal.chain_id):
        f = figures.get((campaign["id"], None))
        if f is None and not (campaign["valid_from"] < hi and campaign["valid_until"] > lo):
            continue
        f = f or _NONE
        result.append(CampaignResultOut(
            campaign_id=campaign["id"], name=campaign["name"], issued=f.issued,
            redeemed=f.redeemed, redemption_rate=f.redemption_rate,
            discount_cents=f.discount_cents, bill_cents=f.bill_cents,
            returning_members_30d=f.returning_members_30d))
    return result


async def source_results(principal: Principal, source: str, first: date,
                         last: date) -> list[SourceResultOut]:
    """Per automation (``source`` "automation") or job ("job"), and campaign: the vouchers
    it issued in the range. Ordered by name, then source id."""
    _operator(principal)
    figures = await voucher_results(principal.chain_id, first=first, last=last,
                                    source=source, by_source=True)
    keys = [key for key in figures if key[1] is not None]
    campaigns = {c["id"]: c["name"] for c in await repo.campaigns(principal.chain_id)}
    named = await repo.names("automation", [k[1] for k in keys if k[1]]) \
        if source == "automation" else {}
    result = []
    for campaign_id, source_id in keys:
        assert source_id is not None
        f = figures[(campaign_id, source_id)]
        result.append(SourceResultOut(
            source_id=source_id, campaign_id=campaign_id,
            name=named.get(source_id) or campaigns.get(campaign_id, ""), issued=f.issued,
            redeemed=f.redeemed, redemption_rate=f.redemption_rate,
            discount_cents=f.discount_cents, bill_cents=f.bill_cents,
            returning_members_30d=f.returning_members_30d))
    result.sort(key=lambda r: (r.name, str(r.source_id), str(r.campaign_id)))
    return result


async def campaign_daily(principal: Principal, campaign_id: uuid.UUID, first: date,
                         last: date) -> CampaignDailyOut:
    _operator(principal)
    check_range(first, last)
    if await repo.campaign_name(principal.chain_id, campaign_id) is None:
        raise NotFound("no such campaign")
    zone = await chain_zone(principal.chain_id)
    issued, redeemed = await repo.daily(
        campaign_id, repo.midnight(first, zone), repo.midnight(last + timedelta(days=1), zone),
        zone)
    points = []
    day = first
    while day <= last:
        points.append(CampaignDay(date=day, issued=issued.get(day, 0),
                                  redeemed=redeemed.get(day, 0)))
        day += timedelta(days=1)
    return CampaignDailyOut(campaign_id=campaign_id, from_=first, to=last, points=points)


async def referral_results(principal: Principal, first: date,
                           last: date) -> ReferralResultsOut:
    """The counts are marketing.referral's own (one definition); the vouchers' figures are
    this module's, for the vouchers each side got in the range."""
    _operator(principal)
    check_range(first, last)
    chain = principal.chain_id
    zone = await chain_zone(chain)
    counts = await referral.referral_figures(
        chain, repo.midnight(first, zone), repo.midnight(last + timedelta(days=1), zone))
    sides = []
    for side in ("referrer", "invitee"):
        figures = await voucher_results(chain, first=first, last=last, source="referral",
                                        side=side)
        sides.append(_sum(list(figures.values())))
    return ReferralResultsOut(
        from_=first, to=last, invited=counts.invited, pending=counts.pending,
        rewarded=counts.rewarded, refused=counts.refused, referrer_vouchers=sides[0],
        invitee_vouchers=sides[1])


def _sum(parts: list[CampaignFigures]) -> CampaignFigures:
    """Figures of several campaigns as one (a member who came back counts once per
    campaign: the program's campaign for a side rarely changes)."""
    issued = sum(p.issued for p in parts)
    redeemed = sum(p.redeemed for p in parts)
    return CampaignFigures(
        issued=issued, redeemed=redeemed, redemption_rate=_rate(redeemed, issued),
        discount_cents=sum(p.discount_cents for p in parts),
        bill_cents=sum(p.bill_cents for p in parts),
        returning_members_30d=sum(p.returning_members_30d for p in parts))


# --- CSV ----------------------------------------------------------------------------------

CSV_COLUMNS = ("campaign_id", "name", "issued", "redeemed", "redemption_rate",
               "discount_cents", "bill_cents", "returning_members_30d")


async def campaigns_csv(principal: Principal, first: date, last: date) -> str:
    rows = await campaign_results(principal, first, last)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([row.campaign_id, csv_cell(row.name), row.issued, row.redeemed,
                         f"{row.redemption_rate:.4f}", row.discount_cents, row.bill_cents,
                         row.returning_members_30d])
    return out.getvalue()
