"""Responses of the stats endpoints (msgspec Structs). Money is integer fen; rates are
fractions 0..1 rounded to 4 places (0 when the denominator is 0)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from msgspec import Struct

Metric = Literal[
    # the contract's metrics
    "new_members", "redemptions", "redemption_value", "bookings", "top_ups",
    # more of the same days
    "top_up_amount", "top_up_paid", "top_up_bonus", "active_members", "cards_issued",
    "vouchers_issued", "vouchers_redeemed", "bookings_completed", "bookings_cancelled",
    "bookings_no_show",
]


class MembersOut(Struct):
    total: int
    new: int
    active: int
    repeat: int  # active members with activity on two or more local days of the range
    repeat_rate: float  # repeat / active


class CardsOut(Struct):
    issued: int
    active: int


class VouchersOut(Struct):
    issued: int
    redeemed: int
    redemption_rate: float  # redeemed / issued, both in the range


class RedemptionKinds(Struct):
    card: int
    voucher: int
    booking: int


class RedemptionsOut(Struct):
    count: int
    value_cents: int  # charged_cents + discount_cents
    by_kind: RedemptionKinds


class TopUpsOut(Struct):
    """Top-ups in the range, gross (refunds are their own figures, never netted): at the
    counter (a store's) and online (the chain's: whole-chain view only)."""

    count: int
    amount_cents: int  # the money top-ups put on cards: paid_cents + bonus_cents
    paid_cents: int  # what members paid (at the counter and online)
    bonus_cents: int  # bonus money the online top-ups' options gave
    refunded_paid_cents: int  # paid money taken back by refunds in the range (the chain's)
    refunded_bonus_cents: int  # bonus money taken back with them


class BookingsOut(Struct):
    total: int
    completed: int
    cancelled: int
    no_show: int
    checked_in: int
    no_show_rate: float  # no_show / (checked_in + completed + no_show)


class OverviewOut(Struct, rename={"from_": "from"}):
    from_: date
    to: date
    store_id: uuid.UUID | None
    members: MembersOut
    cards: CardsOut
    vouchers: VouchersOut
    redemptions: RedemptionsOut
    top_ups: TopUpsOut
    bookings: BookingsOut


class LiabilityOut(Struct):
    """Money held on the chain's cards at the end of a local date (the chain's zone)."""

    date: date
    paid_cents: int
    bonus_cents: int
    cards: int  # cards holding money then


class Point(Struct):
    date: date
    value: int


class TimeseriesOut(Struct, rename={"from_": "from"}):
    metric: Metric
    from_: date
    to: date
    store_id: uuid.UUID | None
    points: list[Point]


class StoreFigures(Struct):
    store_id: uuid.UUID
    name: str
    timezone: str
    members_new: int
    active_members: int
    repeat_members: int
    repeat_rate: float
    cards_issued: int
    redemptions: int
    redemption_value_cents: int
    vouchers_redeemed: int
    top_ups: int
    top_up_amount_cents: int
    bookings: int
    bookings_completed: int
    bookings_cancelled: int
    bookings_no_show: int
    no_show_rate: float


class StoresOut(Struct, rename={"from_": "from"}):
    from_: date
    to: date
    stores: list[StoreFigures]


class ServiceFigures(Struct):
    service_id: uuid.UUID
    store_id: uuid.UUID
    name: str
    bookings: int
    completed: int
    cancelled: int
    no_show: int


class ServicesOut(Struct, rename={"from_": "from"}):
    from_: date
    to: date
    store_id: uuid.UUID | None
    services: list[ServiceFigures]


class CohortMonth(Struct):
    month: str  # YYYY-MM
    active: int
    rate: float  # active / the cohort's members


class Cohort(Struct):
    month: str  # the month its members joined, YYYY-MM
    members: int
    activity: list[CohortMonth]  # the joining month and each later one up to `to`


class CohortsOut(Struct, rename={"from_": "from"}):
    from_: str
    to: str
    store_id: uuid.UUID | None
    cohorts: list[Cohort]


# --- campaign results (issue 20) ---------------------------------------------------------

class CampaignFigures(Struct):
    """What the vouchers issued in a range did (see :mod:`app.stats.results`)."""

    issued: int
    redeemed: int
    redemption_rate: float  # redeemed / issued
    discount_cents: int
    bill_cents: int
    returning_members_30d: int


class CampaignResultOut(Struct):
    campaign_id: uuid.UUID
    name: str
    issued: int
    redeemed: int
    redemption_rate: float
    discount_cents: int
    bill_cents: int
    returning_members_30d: int


class SourceResultOut(Struct):
    """The vouchers one automation or job issued (of one campaign)."""

    source_id: uuid.UUID
    campaign_id: uuid.UUID
    name: str  # the automation's name; a job's campaign's
    issued: int
    redeemed: int
    redemption_rate: float
    discount_cents: int
    bill_cents: int
    returning_members_30d: int


class CampaignDay(Struct):
    date: date
    issued: int  # vouchers issued that local day
    redeemed: int  # redemptions (not reversed) of the campaign's vouchers made that day


class CampaignDailyOut(Struct, rename={"from_": "from"}):
    campaign_id: uuid.UUID
    from_: date
    to: date
    points: list[CampaignDay]


class ReferralResultsOut(Struct, rename={"from_": "from"}):
    """The chain's referrals in a range: invites made (``invited``, of them still
    ``pending``), invites decided (``rewarded``, ``refused``), and what the vouchers each
    side got in the range did (figures as a campaign's)."""

    from_: date
    to: date
    invited: int
    pending: int
    rewarded: int
    refused: int
    referrer_vouchers: CampaignFigures
    invitee_vouchers: CampaignFigures
