"""Tables of automations and their runs.

Raw-DDL indexes (their own migration): ``automation_run_once`` UNIQUE (automation, member,
occurrence) — at most one voucher per member per occurrence, whatever the number of
processes sweeping at once; ``automation_run_log`` (automation, created_at) for the run
log; ``marketing_card_chain_created`` on card (chain, created_at) for the welcome sweep.
"""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Boolean, Date, ForeignKey, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from cards.tables import Campaign
from stores.tables import Chain, Member


class Automation(Table, tablename="automation"):
    id = UUID(primary_key=True)
    chain = ForeignKey(Chain, null=False, on_delete=OnDelete.restrict, index=True)
    name = Varchar(length=120, null=False)
    trigger = Varchar(length=16, null=False)  # birthday | inactive | welcome | nth_visit
    params = JSON(null=False, default="{}")  # days_before | inactive_days | n
    campaign = ForeignKey(Campaign, null=False, on_delete=OnDelete.restrict, index=True)
    notify = Boolean(null=False, default=True)
    status = Varchar(length=16, null=False, default="active", index=True)  # active | paused
    created_at = Timestamptz(null=False, default=TimestamptzNow())
    updated_at = Timestamptz(null=False, default=TimestamptzNow())
    # Created or last resumed: what happened before (first cards, n-th visits) is not
    # this automation's to act on.
    active_since = Timestamptz(null=False, default=TimestamptzNow())
    # Watermarks of the sweeps (marketing/automations/worker.py): the last local date
    # swept (birthday: the last birthday date; inactive: the last last-visit date), and
    # the instant up to which new rows were read (welcome, nth_visit).
    swept_through = Date(null=True, default=None)
    cursor_at = Timestamptz(null=True, default=None)


class AutomationRun(Table, tablename="automation_run"):
    """One member's occurrence of an automation: issued (with its voucher) or skipped
    (the issue was refused: ``skipped_code``). Either way the occurrence is taken."""

    id = UUID(primary_key=True)
    automation = ForeignKey(Automation, null=False, on_delete=OnDelete.cascade, index=False)
    member = ForeignKey(Member, null=False, on_delete=OnDelete.cascade, index=True)
    occurrence = Varchar(length=32, null=False)
    status = Varchar(length=16, null=False)  # issued | skipped
    voucher = UUID(null=True, default=None)
    skipped_code = Varchar(length=40, null=True, default=None)
    created_at = Timestamptz(null=False, default=TimestamptzNow())
