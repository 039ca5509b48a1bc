"""The issue jobs: a campaign issued to a segment's members in the background.

``marketing_job`` holds the job's counters and lease; ``marketing_job_item`` the members
the segment had when the job started, one row each, in the order they are issued
(``position``). Raw SQL in the second migration adds the unique indexes (job, member) and
(job, position): a member is an item of a job once, and its done mark commits with its
voucher.
"""

from __future__ import annotations

from piccolo.columns import JSON, UUID, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from stores.tables import Chain


class MarketingJob(Table, tablename="marketing_job"):
    """``status``: running | done | failed. ``done`` = ``issued`` + ``skipped`` items
    finished, in ``position`` order (the pending items are those at ``position >=
    done``). ``skipped_codes``: {error code: count}. ``lease_token``/``lease_until``:
    the process working on it (a conditional update claims it once the lease has run
    out). ``failures``: batches in a row that failed unexpectedly (three fail the job,
    ``error`` says why)."""

    id = UUID(primary_key=True)
    chain = ForeignKey(Chain, null=False, on_delete=OnDelete.restrict, index=True)
    campaign = UUID(null=False, index=True)
    segment = UUID(null=True, default=None)
    status = Varchar(length=12, null=False, default="running", index=True)
    total = Integer(null=False, default=0)
    done = Integer(null=False, default=0)
    issued = Integer(null=False, default=0)
    skipped = Integer(null=False, default=0)
    skipped_codes = JSON(null=False, default="{}")
    error = Text(null=True, default=None)
    failures = Integer(null=False, default=0)
    waiting = Varchar(length=32, null=True, default=None)
    lease_token = UUID(null=True, default=None)
    lease_until = Timestamptz(null=True, default=None)
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(null=False, default=TimestamptzNow())
    updated_at = Timestamptz(null=False, default=TimestamptzNow())
    finished_at = Timestamptz(null=True, default=None)


class MarketingJobItem(Table, tablename="marketing_job_item"):
    """One member of a job: ``status`` pending | issued | skipped; ``code`` the refusal
    of a skipped one (claim_limit_reached, campaign_sold_out, ...); ``voucher`` the
    voucher issued."""

    id = UUID(primary_key=True)
    job = ForeignKey(MarketingJob, null=False, on_delete=OnDelete.cascade)
    position = Integer(null=False)
    member = UUID(null=False)
    status = Varchar(length=12, null=False, default="pending")
    code = Varchar(length=40, null=True, default=None)
    voucher = UUID(null=True, default=None)
    done_at = Timestamptz(null=True, default=None)
