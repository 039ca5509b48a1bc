"""Member import from CSV (issue 18, decision 045): validated whole, then written in one
write transaction, all or nothing, idempotent by ``external_id``.

Three steps, each reporting progress (the CLI's bar):

1. **read** (:func:`read_file`): the bytes as UTF-8 (a BOM allowed), the header, every
   row's every field checked on its own, and what the file says twice (an external id, a
   phone). No database.
2. **plan** (:func:`plan`): what the database says: templates of the chain and their
   kinds, members matched by external id (fetched in batches), phones held by other
   members, the cards those members already hold. Any problem of steps 1 and 2 is a 422
   ``import_invalid`` naming every bad line, and nothing is written.
3. **write** (:func:`_write`): new members, changed members, new cards with their one
   ``opening_balance`` ledger entry (hash-chained by :func:`cards.ledger.next_move`, so
   ``o2o verify-ledger`` holds), in bulk statements inside the one write transaction the
   plan was re-read in.

An identical row changes nothing: a member is updated only when a field the file gives
differs, and a card is created only when the member holds none of its template (in any
status). So importing the same file again counts 0 of everything but ``rows``.

The whole-file work that needs no database (read, the plan's row-by-row decisions, building
the rows and hashing their entries) runs in a worker thread, the queries on the event
loop, so the server keeps answering; one import runs at a time per process (``_running``).
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

import msgspec

from app.core import events
from app.core.clock import utcnow
from app.core.db import is_unique_violation, write_transaction
from app.core.errors import Conflict, ValidationError
from cards import ledger
from cards import repository as repo
from cards.errors import ImportInvalid
from cards.rows import CardRow, CardView, TemplateRow
from cards.schemas import MAX_BALANCE_CENTS, ImportOut, ImportProblem
from cards.service import card_out
from stores import service as stores
from stores.rows import MemberRow
from stores.schemas import PHONE_PATTERN

COLUMNS = ("external_id", "name", "phone", "birthday", "card_template_id",
           "opening_balance_cents", "opening_points", "opening_visits")
FIGURES = ("opening_balance_cents", "opening_points", "opening_visits")
# The caps the API has elsewhere: a card's balance cap, a tier's points threshold, a
# times template's initial visits.
CAPS = {"opening_balance_cents": MAX_BALANCE_CENTS, "opening_points": 1_000_000_000,
        "opening_visits": 10_000}
MAX_ROWS = 200_000
MAX_ERRORS = 1000  # the 422 lists this many; error_count says how many there were
MAX_BYTES = 32 * 1024 * 1024  # the route's own body limit (the app's is 1 MB)
LEDGER_KIND = "opening_balance"
WRITE_CHUNK = 5000

_PHONE = re.compile(PHONE_PATTERN)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DIGITS = re.compile(r"^\d{1,12}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A cell our own export escaped against CSV injection ("'+8613800138000"): read back.
_ESCAPED = re.compile(r"^'[=+\-@\t\r]")

Progress = Callable[[str, int, int], None]
"""(stage, done, total): stage is "read", "plan" or "write"."""


def _quiet(_stage: str, _done: int, _total: int) -> None:
    return None


@dataclass(slots=True)
class Row:
    """One data row of the file, its cells checked; None where the file gives nothing."""

    line: int
    external_id: str
    name: str | None = None
    phone: str | None = None
    birthday: date | None = None
    template_id: uuid.UUID | None = None
    figures: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class Problems:
    items: list[ImportProblem] = field(default_factory=list)
    count: int = 0

    def add(self, line: int, column: str | None, message: str) -> None:
        self.count += 1
        if len(self.items) < MAX_ERRORS:
            self.items.append(ImportProblem(line=line, field=column, message=message))

    def raise_any(self) -> None:
        if self.count:
            self.items.sort(key=lambda p: (p.line, COLUMNS.index(p.field)
                                           if p.field in COLUMNS else -1))
            raise ImportInvalid(
                f"{self.count} problem(s) in the file; nothing was imported",
                errors=[{"line": p.line, "field": p.field, "message": p.message}
                        for p in self.items],
                error_count=self.count)


# --- 1. read ----------------------------------------------------------------------------

def _text(data: bytes, problems: Problems) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        problems.add(line, None, f"the file is not UTF-8 (byte {exc.start + 1})")
        return None
    return text.removeprefix("\ufeff")


def _header(cells: list[str], problems: Problems) -> list[str]:
    names = [c.strip() for c in cells]
    for name in names:
        if name not in COLUMNS:
            problems.add(1, name or None, f"unknown column {name!r}; the columns are "
                                          + ", ".join(COLUMNS))
    for name in {n for n in names if names.count(n) > 1}:
        problems.add(1, name, "the column is given twice")
    if "external_id" not in names:
        problems.add(1, "external_id", "the external_id column is required")
    return names


def _cell(raw: str) -> str:
    value = raw.strip()
    return value[1:] if _ESCAPED.match(value) else value


def _row(line: int, names: list[str], cells: list[str], problems: Problems) -> Row | None:
    if len(cells) != len(names):
        problems.add(line, None, f"expected {len(names)} fields, found {len(cells)}")
        return None
    # An external id is an opaque key compared exactly (stores.checked_external_id): never
    # trimmed; every other cell is.
    values = {n: c if n == "external_id" else _cell(c)
              for n, c in zip(names, cells, strict=True)}
    bad = False

    def fail(column: str, message: str) -> None:
        nonlocal bad
        bad = True
        problems.add(line, column, message)

    for column, value in values.items():
        if _CONTROL.search(value):
            fail(column, "control characters are not allowed")
    if bad:
        return None
    external_id = values.get("external_id", "")
    if _ESCAPED.match(external_id):
        external_id = external_id[1:]
    if not external_id:
        fail("external_id", "required")
    else:
        try:
            stores.checked_external_id(external_id)
        except ValidationError as exc:
            fail("external_id", str(exc.extra["errors"][0]["message"]))
    row = Row(line=line, external_id=external_id)
    if values.get("name"):
        if len(values["name"]) > 120:
            fail("name", "at most 120 characters")
        row.name = values["name"]
    if values.get("phone"):
        phone = values["phone"]
        if len(phone) > 32 or not _PHONE.match(phone):
            fail("phone", "not a phone number (digits, spaces and dashes, an optional "
                          "leading +)")
        else:
            row.phone = stores.normalize_phone(phone)
    if values.get("birthday"):
        try:
            if not _DATE.match(values["birthday"]):
                raise ValueError
            row.birthday = date.fromisoformat(values["birthday"])
        except ValueError:
            fail("birthday", "not a date (YYYY-MM-DD)")
        else:
            if row.birthday > utcnow().date():
                fail("birthday", "in the future")
    if values.get("card_template_id"):
        try:
            row.template_id = uuid.UUID(values["card_template_id"])
        except ValueError:
            fail("card_template_id", "not a card template id")
    for column in FIGURES:
        if not values.get(column):
            continue
        if not _DIGITS.match(values[column]):
            fail(column, "not a whole number of 0 or more")
        elif int(values[column]) > CAPS[column]:
            fail(column, f"at most {CAPS[column]}")
        elif "card_template_id" not in values or not values["card_template_id"]:
            fail(column, "an opening figure needs a card_template_id")
        else:
            row.figures[column] = int(values[column])
    return None if bad else row


def read_file(data: bytes, progress: Progress = _quiet) -> tuple[list[Row], Problems]:
    """Every row of the file with its cells checked, and every problem found (none of
    them needs the database)."""
    problems = Problems()
    text = _text(data, problems)
    if text is None:
        return [], problems
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[Row] = []
    names: list[str] | None = None
    seen_ids: dict[str, int] = {}
    seen_phones: dict[str, int] = {}
    count, last = 0, 0
    try:
        for cells in reader:
            line, last = last + 1, reader.line_num
            if names is None:
                names = _header(cells, problems)
                if problems.count:
                    return [], problems
                continue
            if not cells or cells == [""]:
                continue  # a blank line
            count += 1
            if count > MAX_ROWS:
                problems.add(line, None, f"more than {MAX_ROWS} rows: split the file")
                return [], problems
            row = _row(line, names, cells, problems)
            if row is not None:
                first = seen_ids.setdefault(row.external_id, line)
                if first != line:
                    problems.add(line, "external_id",
                                 f"external_id {row.external_id!r} is on line {first} too")
                if row.phone is not None:
                    first = seen_phones.setdefault(row.phone, line)
                    if first != line:
                        problems.add(line, "phone", f"phone {row.phone} is on line {first} too")
                rows.append(row)
            if count % 10_000 == 0:
                progress("read", count, count)
    except csv.Error as exc:
        problems.add(last + 1, None, f"not valid CSV: {exc}")
    if names is None:
        problems.add(1, None, "the file is empty: a header row is needed")
    progress("read", count, count)
    return rows, problems


# --- 2. plan ----------------------------------------------------------------------------

@dataclass(slots=True)
class NewCard:
    row: Row
    member_id: uuid.UUID
    template: TemplateRow


@dataclass(slots=True)
class Plan:
    rows: int
    created: list[Row] = field(default_factory=list)
    updated: list[dict[str, Any]] = field(default_factory=list)  # member rows, changed
    cards: list[NewCard] = field(default_factory=list)
    member_ids: dict[str, uuid.UUID] = field(default_factory=dict)  # by external id

    def out(self, dry_run: bool) -> ImportOut:
        return ImportOut(rows=self.rows, members_created=len(self.created),
                         members_updated=len(self.updated), cards_created=len(self.cards),
                         dry_run=dry_run, errors=[])


def _allows(template: TemplateRow, column: str) -> str | None:
    """Why ``template`` takes no such opening figure, or None when it does."""
    if column == "opening_balance_cents" and template["kind"] != "stored_value":
        return "only a stored_value card holds a balance"
    if column == "opening_visits" and template["kind"] != "times":
        return "only a times card holds visits"
    if column == "opening_points" and template["points_per_yuan"] <= 0:
        return "this card does not earn points"
    return None


def _changes(row: Row, member: dict[str, Any]) -> dict[str, Any]:
    """What the file changes of an existing member (the fields it gives that differ)."""
    changes: dict[str, Any] = {}
    if row.name is not None and row.name != member["name"]:
        changes["name"] = row.name
    if row.phone is not None and row.phone != member["phone"]:
        changes.update(phone=row.phone, phone_verified=True)
    if row.birthday is not None and row.birthday != member["birthday"]:
        changes["birthday"] = row.birthday
    return changes


async def plan(chain_id: uuid.UUID, rows: list[Row], problems: Problems,
               progress: Progress = _quiet) -> Plan:
    """What the import would do, or the problems the database shows (in ``problems``).
    The queries run here, on the event loop; deciding row by row (:func:`_decide`, no
    database) runs in a worker thread, so 200,000 rows do not stall the server."""
    total = len(rows)
    progress("plan", 0, total)
    templates = {t["id"]: t for t in await repo.list_templates(chain_id)}
    existing = {m["external_id"]: m for m in await repo.members_by_external_ids(
        chain_id, [r.external_id for r in rows])}
    progress("plan", total // 3, total)
    holders: dict[str, set[uuid.UUID]] = {}
    for holder in await repo.members_by_phones(
            chain_id, [r.phone for r in rows if r.phone is not None]):
        holders.setdefault(holder["phone"], set()).add(holder["id"])
    progress("plan", 2 * total // 3, total)
    held = await repo.held_templates([m["id"] for m in existing.values()],
                                     list(templates))
    result = await asyncio.to_thread(_decide, rows, problems, templates, existing,
                                     holders, held)
    progress("plan", total, total)
    return result


def _decide(rows: list[Row], problems: Problems, templates: dict[uuid.UUID, TemplateRow],
            existing: dict[str, dict[str, Any]], holders: dict[str, set[uuid.UUID]],
            held: set[tuple[uuid.UUID, uuid.UUID]]) -> Plan:
    """The plan from what :func:`plan` read of the database (pure: run in a thread)."""
    result = Plan(rows=len(rows))
    for row in rows:
        member = existing.get(row.external_id)
        member_id = member["id"] if member is not None else uuid.uuid4()
        result.member_ids[row.external_id] = member_id
        if row.phone is not None and holders.get(row.phone, set()) - {member_id}:
            problems.add(row.line, "phone",
                         f"phone {row.phone} belongs to another member of the chain")
        template = templates.get(row.template_id) if row.template_id else None
        if row.template_id is not None and template is None:
            problems.add(row.line, "card_template_id", "no such card template in this chain")
        if template is not None:
            for column in row.figures:
                if row.figures[column] and (why := _allows(template, column)):
                    problems.add(row.line, column, why)
            if member is None or (member_id, template["id"]) not in held:
                if not template["active"]:
                    problems.add(row.line, "card_template_id",
                                 "the card template is not active")
                result.cards.append(NewCard(row, member_id, template))
        if member is None:
            result.created.append(row)
        elif changes := _changes(row, member):
            result.updated.append({**member, **changes})
    return result


# --- 3. write ---------------------------------------------------------------------------

def card_number() -> str:
    """A card number of the cards service's format (12 digits: 11 random ones, never a
    leading zero, and a Luhn check digit), drawn with one call of the system's random
    source instead of one per digit (100,000 of them at once)."""
    digits = str(10**10 + secrets.randbelow(9 * 10**10))
    total = 0
    for index, char in enumerate(reversed(digits)):
        doubled = int(char) * 2 if index % 2 == 0 else int(char)
        total += doubled - 9 if doubled > 9 else doubled
    return digits + str((10 - total % 10) % 10)


async def _numbers(count: int) -> list[str]:
    """``count`` card numbers no card has yet (and no two alike)."""
    numbers: list[str] = []
    while len(numbers) < count:
        fresh = list({card_number() for _ in range(count - len(numbers))} - set(numbers))
        taken = await repo.numbers_taken(fresh)
        numbers += [n for n in fresh if n not in taken]
    return numbers


def _member_row(row: Row, member_id: uuid.UUID, chain_id: uuid.UUID,
                staff_id: uuid.UUID | None, now: datetime) -> dict[str, Any]:
    return {"id": member_id, "chain": chain_id, "openid": None, "unionid": None,
            "name": row.name or "", "phone": row.phone, "birthday": row.birthday,
            "registered_by": staff_id, "registered_store": None, "created_at": now,
            # The chain's own records vouch for the number, as a clerk typing it does.
            "phone_verified": row.phone is not None, "external_id": row.external_id}


def _card(new: NewCard, number: str, chain_id: uuid.UUID, staff_id: uuid.UUID | None,
          now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """The card row and its one ``opening_balance`` ledger entry."""
    template = new.template
    times = template["kind"] == "times"
    visits = new.row.figures.get("opening_visits")
    if visits is None and times:
        visits = template["initial_visits"] or 0  # as if issued today
    card: CardRow = {
        "id": uuid.uuid4(), "chain": chain_id, "template": template["id"],
        "member": new.member_id, "number": number, "status": "active",
        "balance_cents": 0, "points": 0, "visits_left": 0 if times else None,
        "tier": None, "ledger_seq": 0, "ledger_hash": ledger.GENESIS,
        "expires_at": (now + timedelta(days=template["validity_days"])
                       if template["validity_days"] else None),
        "issued_by": staff_id, "issued_store": None, "created_at": now}
    move = ledger.next_move(card, ledger.Delta(
        LEDGER_KIND, cents=new.row.figures.get("opening_balance_cents", 0),
        points=new.row.figures.get("opening_points", 0), visits=visits or 0),
        tiers=template["tiers"], now=now, store_id=None, staff_id=staff_id,
        redemption_id=None)
    return {**card, **move.figures}, dict(move.entry)


def _member_data(row: dict[str, Any]) -> dict[str, Any]:
    """A member event's data (pure: built in a thread; :func:`events.event` is not, as it
    wakes the sequencer, so the event itself is made on the loop)."""
    return cast("dict[str, Any]", msgspec.to_builtins(stores.member_out(cast("MemberRow", row))))


def _card_data(card: dict[str, Any], template: TemplateRow, now: datetime) -> dict[str, Any]:
    view = {**card, "kind": template["kind"], "template_name": template["name"]}
    return cast("dict[str, Any]",
                msgspec.to_builtins(card_out(cast("CardView", view), now)))


@dataclass(slots=True)
class Rows:
    """What :func:`_write` inserts, built off the loop by :func:`_build`: each row with
    its event's data."""

    members: list[tuple[dict[str, Any], dict[str, Any]]]
    updated: list[tuple[dict[str, Any], dict[str, Any]]]
    cards: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]  # card, entry, data


def _build(chain_id: uuid.UUID, result: Plan, numbers: list[str],
           staff_id: uuid.UUID | None, now: datetime) -> Rows:
    """Every row to write, the cards' ledger entries hashed (pure: run in a thread, as
    hashing 200,000 opening entries takes seconds)."""
    members = [_member_row(r, result.member_ids[r.external_id], chain_id, staff_id, now)
               for r in result.created]
    cards = []
    for new, number in zip(result.cards, numbers, strict=True):
        card, entry = _card(new, number, chain_id, staff_id, now)
        cards.append((card, entry, _card_data(card, new.template, now)))
    return Rows(members=[(m, _member_data(m)) for m in members],
                updated=[(m, _member_data(m)) for m in result.updated], cards=cards)


def _events(kind: str, rows: list[dict[str, Any]],
            datas: list[dict[str, Any]]) -> list[events.NewEvent]:
    return [events.event(kind, chain_id=row["chain"], object_id=row["id"], data=data)
            for row, data in zip(rows, datas, strict=True)]


async def _write(chain_id: uuid.UUID, result: Plan, staff_id: uuid.UUID | None,
                 progress: Progress) -> None:
    """Members, then cards and their entries, each followed by its events, in chunks.
    Only the statements run on the loop; the rows are built in a thread first."""
    now = utcnow()
    total = len(result.created) + len(result.updated) + len(result.cards)
    done = 0
    progress("write", 0, total)
    numbers = await _numbers(len(result.cards))
    built = await asyncio.to_thread(_build, chain_id, result, numbers, staff_id, now)
    for start in range(0, len(built.members), WRITE_CHUNK):
        chunk = built.members[start:start + WRITE_CHUNK]
        await repo.insert_members([m for m, _ in chunk])
        await repo.insert_events(_events(events.types.MEMBER_CREATED,
                                         [m for m, _ in chunk], [d for _, d in chunk]))
        done += len(chunk)
        progress("write", done, total)
    for start in range(0, len(built.updated), WRITE_CHUNK):
        chunk = built.updated[start:start + WRITE_CHUNK]
        await repo.update_members([m for m, _ in chunk])
        await repo.insert_events(_events(events.types.MEMBER_UPDATED,
                                         [m for m, _ in chunk], [d for _, d in chunk]))
        done += len(chunk)
        progress("write", done, total)
    for start in range(0, len(built.cards), WRITE_CHUNK):
        cards = built.cards[start:start + WRITE_CHUNK]
        await repo.insert_cards([card for card, _, _ in cards])
        await repo.insert_ledger_entries([entry for _, entry, _ in cards])
        await repo.insert_events(_events(events.types.CARD_ISSUED,
                                         [card for card, _, _ in cards],
                                         [data for _, _, data in cards]))
        done += len(cards)
        progress("write", done, total)


# One import at a time in this process: two big files at once would each hold their
# thread and memory, and on SQLite queue behind the single writer anyway. A second one
# answers 409 at once rather than wait minutes on a request.
_running = asyncio.Lock()


async def import_members(chain_id: uuid.UUID, data: bytes, *, dry_run: bool,
                         staff_id: uuid.UUID | None,
                         progress: Progress = _quiet) -> ImportOut:
    """Import a member CSV into the chain (or, ``dry_run``, say what it would do). A 409
    ``conflict`` at once while another import (a dry run too) runs in this process."""
    if _running.locked():
        raise Conflict("an import is running; try again when it has finished")
    async with _running:
        return await _import(chain_id, data, dry_run=dry_run, staff_id=staff_id,
                             progress=progress)


async def _import(chain_id: uuid.UUID, data: bytes, *, dry_run: bool,
                  staff_id: uuid.UUID | None, progress: Progress) -> ImportOut:
    # Decoding and checking every cell needs no database: a worker thread's job.
    rows, problems = await asyncio.to_thread(read_file, data, progress)
    if problems.count:  # every problem at once: what the database says of the other rows too
        if rows:
            await plan(chain_id, rows, problems, progress)
        problems.raise_any()
    if dry_run:
        result = await plan(chain_id, rows, problems, progress)
        problems.raise_any()
        return result.out(dry_run=True)
    try:
        async with write_transaction():
            result = await plan(chain_id, rows, problems, progress)
            problems.raise_any()
            await _write(chain_id, result, staff_id, progress)
    except Exception as exc:
        if is_unique_violation(exc):  # another import or a registration got there first
            raise Conflict("members of the file changed meanwhile; import it again") from None
        raise
    return result.out(dry_run=False)
