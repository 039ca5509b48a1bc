"""HTTP endpoints of the issue jobs: their progress. A job is started by cards' ``POST
/campaigns/{id}/issue`` with a ``segment_id`` (its ``segment_issuer``:
``service.start_issue_job``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, get
from litestar.params import FromPath, QueryParameter

from app.core.auth import OPERATORS
from app.core.openapi import problems
from app.core.params import Caller, Offset
from marketing.jobs import service
from marketing.jobs.schemas import JobOut

Limit = Annotated[int, QueryParameter(ge=1, le=200, description="at most this many jobs")]
CampaignFilter = Annotated[uuid.UUID | None,
                           QueryParameter(description="only this campaign's jobs")]


class JobController(Controller):
    path = "/jobs"
    tags = ["marketing"]

    @get("", guards=[OPERATORS], summary="The chain's issue jobs, newest first")
    async def list_(self, principal: Caller, limit: Limit = 50, offset: Offset = 0,
                    campaign_id: CampaignFilter = None) -> list[JobOut]:
        return await service.list_jobs(principal, limit=limit, offset=offset,
                                       campaign_id=campaign_id)

    @get("/{job_id:uuid}", guards=[OPERATORS], responses=problems(404),
         summary="An issue job's progress",
         description="done = issued + skipped, out of total (the segment's members when "
                     "the job started). skipped_by_code: the refusals by error code; "
                     "waiting: campaign_paused while the campaign is paused; error: why a "
                     "failed job failed.")
    async def read(self, job_id: FromPath[uuid.UUID], principal: Caller) -> JobOut:
        return await service.get_job(principal, job_id)


CONTROLLERS = [JobController]
