"""Business rules of automations: what each trigger takes, who may change them, the run
log. The sweeps that issue are in ``worker.py``."""

from __future__ import annotations

import uuid
from typing import Any

from app.core.auth import Principal
from app.core.clock import utcnow
from app.core.db import write_transaction
from app.core.errors import NotFound, ValidationError
from cards import public as cards
from marketing.automations import repository as repo
from marketing.automations.rows import AutomationRow
from marketing.automations.schemas import (
    AutomationIn,
    AutomationOut,
    AutomationParams,
    AutomationPatch,
    AutomationRunOut,
)

# Each trigger's parameter: (name, lowest, highest, default when absent or None).
PARAMS: dict[str, tuple[str, int, int, int | None] | None] = {
    "birthday": ("days_before", 0, 60, 0),
    "inactive": ("inactive_days", 1, 3650, None),
    "nth_visit": ("n", 1, 10_000, None),
    "welcome": None,
}


def checked_params(trigger: str, params: AutomationParams) -> dict[str, int]:
    """The trigger's own parameter, in range; 400 naming ``params.<name>`` otherwise
    (a missing one, one out of range, or another trigger's)."""
    spec = PARAMS[trigger]
    own = spec[0] if spec else None
    for name in AutomationParams.__struct_fields__:
        if name != own and getattr(params, name) is not None:
            raise ValidationError(f"params.{name}", f"not a parameter of {trigger}")
    if spec is None:
        return {}
    name, low, high, default = spec
    value = getattr(params, name)
    if value is None:
        value = default
    if value is None:
        raise ValidationError(f"params.{name}", f"{trigger} needs {name}")
    if not low <= value <= high:
        raise ValidationError(f"params.{name}", f"must be from {low} to {high}")
    return {name: value}


def automation_out(row: AutomationRow) -> AutomationOut:
    return AutomationOut(
        id=row["id"], chain_id=row["chain"], name=row["name"],
        trigger=row["trigger"],  # type: ignore[arg-type]
        params=dict(row["params"] or {}), campaign_id=row["campaign"], notify=row["notify"],
        status=row["status"],  # type: ignore[arg-type]
        created_at=row["created_at"], updated_at=row["updated_at"])


async def _campaign(principal: Principal, campaign_id: uuid.UUID) -> uuid.UUID:
    if await cards.campaign_in_chain(principal.chain_id, campaign_id) is None:
        raise NotFound("no such campaign")
    return campaign_id


async def create_automation(principal: Principal, body: AutomationIn) -> AutomationOut:
    params = checked_params(body.trigger, body.params)
    campaign_id = await _campaign(principal, body.campaign_id)
    now = utcnow()
    values: dict[str, Any] = {
        "id": uuid.uuid4(), "chain": principal.chain_id, "name": body.name.strip(),
        "trigger": body.trigger, "params": params, "campaign": campaign_id,
        "notify": body.notify, "status": body.status, "created_at": now,
        "updated_at": now, "active_since": now, "swept_through": None, "cursor_at": None,
    }
    async with write_transaction():
        await repo.insert_automation(values)
    return automation_out(values)  # type: ignore[arg-type]


async def _automation(principal: Principal, automation_id: uuid.UUID) -> AutomationRow:
    row = await repo.get_automation(automation_id, principal.chain_id)
    if row is None:
        raise NotFound("no such automation")
    return row


async def get_automation(principal: Principal, automation_id: uuid.UUID) -> AutomationOut:
    return automation_out(await _automation(principal, automation_id))


async def list_automations(principal: Principal) -> list[AutomationOut]:
    return [automation_out(r) for r in await repo.list_automations(principal.chain_id)]


async def update_automation(principal: Principal, automation_id: uuid.UUID,
                            body: AutomationPatch) -> AutomationOut:
    row = await _automation(principal, automation_id)
    changes: dict[str, Any] = {}
    if body.name is not None:
        changes["name"] = body.name.strip()
    if body.params is not None:
        changes["params"] = checked_params(row["trigger"], body.params)
    if body.notify is not None:
        changes["notify"] = body.notify
    if body.campaign_id is not None:
        changes["campaign"] = await _campaign(principal, body.campaign_id)
    if body.status is not None and body.status != row["status"]:
        changes["status"] = body.status
        if body.status == "active":
            changes.update(_resumed(row))
    if changes:
        changes["updated_at"] = utcnow()
        async with write_transaction():
            await repo.update_automation(row["id"], changes)
    return await get_automation(principal, automation_id)


def _resumed(row: AutomationRow) -> dict[str, Any]:
    """A paused automation neither acted nor will catch up on what happened meanwhile:
    first cards and n-th visits count from the resumption; a birthday sweep starts
    again with today's upcoming birthdays (those days_before ahead and nearer). An
    inactive sweep keeps its day: members who lapsed meanwhile and are still away are
    still worth winning back."""
    now = utcnow()
    resumed: dict[str, Any] = {"active_since": now, "cursor_at": None}
    if row["trigger"] == "birthday":
        resumed["swept_through"] = None
    return resumed


async def automation_runs(principal: Principal, automation_id: uuid.UUID, *, limit: int,
                          offset: int) -> list[AutomationRunOut]:
    row = await _automation(principal, automation_id)
    runs = await repo.list_runs(row["id"], limit=limit, offset=offset)
    return [AutomationRunOut(member_id=r["member"], voucher_id=r["voucher"],
                             occurrence=r["occurrence"], created_at=r["created_at"],
                             status=r["status"],  # type: ignore[arg-type]
                             skipped_code=r["skipped_code"]) for r in runs]
