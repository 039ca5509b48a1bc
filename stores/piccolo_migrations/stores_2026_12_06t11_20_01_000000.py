"""Only verified phones are unique in a chain.

Existing phones: a member a clerk registered (``registered_by`` set) had the phone typed
at the counter, so it counts as verified; every other phone was typed by the member
(``PATCH /me``) and counts as unverified. The unique index on (chain, phone) becomes a
partial one over verified phones (both engines accept ``CREATE UNIQUE INDEX ... WHERE``),
and a plain index keeps the clerk's lookup by phone fast for unverified ones too.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-12-06T11:20:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "unique verified phones"

_UP = (
    "UPDATE member SET phone_verified = TRUE "
    "WHERE registered_by IS NOT NULL AND phone IS NOT NULL",
    "DROP INDEX member_chain_phone",
    "CREATE UNIQUE INDEX member_chain_verified_phone ON member (chain, phone) "
    "WHERE phone_verified",
    "CREATE INDEX member_chain_phone_lookup ON member (chain, phone)",
)
# Going back fails if two members now share an unverified number: that is the old rule.
_DOWN = (
    "DROP INDEX member_chain_phone_lookup",
    "DROP INDEX member_chain_verified_phone",
    "CREATE UNIQUE INDEX member_chain_phone ON member (chain, phone)",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="stores", description=DESCRIPTION)
    manager.add_raw(raw_ddl(*_UP))
    manager.add_raw_backwards(raw_ddl(*_DOWN))
    return manager
