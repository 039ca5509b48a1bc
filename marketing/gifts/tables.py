"""The gift of a voucher (issue 20). Only a hash of its link's token is kept: the token
is a bearer secret (whoever holds the link may accept), shown once to the giver.

Raw-DDL indexes (their own migration): one *pending* gift per voucher (partial unique);
pending gifts by expiry (the tick's sweep); a member's gifts, newest first.
"""

from __future__ import annotations

from piccolo.columns import UUID, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Gift(Table, tablename="gift"):
    id = UUID(primary_key=True)
    chain = UUID(null=False)
    voucher = UUID(null=False)
    giver = UUID(null=False)  # the member giving it
    token_hash = Varchar(length=64, null=False, unique=True)  # sha256 hex of the token
    status = Varchar(length=16, null=False, default="pending")  # | accepted | cancelled | expired
    expires_at = Timestamptz(null=False)
    accepted_by = UUID(null=True, default=None)
    ended_at = Timestamptz(null=True, default=None)  # accepted, cancelled or expired at
    created_at = Timestamptz(null=False, default=TimestamptzNow())
