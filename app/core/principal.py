"""Who is calling (app.core.auth re-exports it; its own module so that app.core.apikeys,
which app.core.auth uses, can build one)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

Role = Literal["operator", "manager", "clerk", "member"]
STAFF_ROLES: tuple[Role, ...] = ("operator", "manager", "clerk")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a staff member of a chain (with store scope), a member, or an API
    key of a chain (app.core.apikeys: a machine, acting as an operator when chain-wide,
    as a manager of its stores otherwise, and only on the routes its ``scopes`` open)."""

    kind: Literal["staff", "member", "key"]
    id: uuid.UUID
    chain_id: uuid.UUID
    role: Role
    store_ids: frozenset[uuid.UUID] = frozenset()
    scopes: frozenset[str] | None = None  # a key's scopes; None for people

    @property
    def is_staff(self) -> bool:
        """Acts for the chain (staff, or a key of the chain), not as a member."""
        return self.kind != "member"

    @property
    def staff_id(self) -> uuid.UUID | None:
        """The staff member acting, for columns that point at staff (issued_by, a
        redemption's staff, booked_by, registered_by): None for keys and members."""
        return self.id if self.kind == "staff" else None

    @property
    def is_key(self) -> bool:
        return self.kind == "key"

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"

    def covers_store(self, store_id: uuid.UUID) -> bool:
        """Operators cover every store of their chain; managers and clerks their list."""
        return self.role == "operator" or store_id in self.store_ids

    def may_see_member_data(self, member_id: uuid.UUID) -> bool:
        """A member sees only their own cards, vouchers and profile; staff of the chain
        (the object was already looked up within the caller's chain) see all of it."""
        return self.role != "member" or member_id == self.id

    @property
    def caller_key(self) -> str:
        return f"{self.kind}:{self.id}"
