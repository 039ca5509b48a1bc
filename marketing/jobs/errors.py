"""Why a job fails (its ``error``). A job refuses nothing of its own at the door: the
campaign's and the segment's refusals are cards' and segments' errors."""

from __future__ import annotations

CAMPAIGN_GONE = "campaign_gone"  # the campaign is no campaign of the chain any more
UNEXPECTED = "unexpected_error"  # batches failed MAX_FAILURES times in a row
CAMPAIGN_PAUSED = "campaign_paused"  # not an error: what the job waits for
