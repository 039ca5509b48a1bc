"""Room on each page for updates that stay on it (PostgreSQL only).

A redemption turns its voucher redeemed and a charge moves its card's figures: columns no
index covers, so PostgreSQL can write the new row version on the same page without
touching the table's indexes (a HOT update), but only if the page has room. Tables
filled to 100 % (the default) make every such update a new row elsewhere plus one entry
in each of the table's indexes: seven for a voucher, nine for a card. Applies to pages
written from now on.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from app.core.migration_sql import raw_ddl

ID = "2026-12-01T16:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "fillfactor for updated tables"

_TABLES = ("voucher", "card")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cards", description=DESCRIPTION)
    manager.add_raw(raw_ddl(*(f"ALTER TABLE {t} SET (fillfactor = 80)" for t in _TABLES),
                            engine_type="postgres"))
    manager.add_raw_backwards(raw_ddl(*(f"ALTER TABLE {t} RESET (fillfactor)"
                                        for t in _TABLES), engine_type="postgres"))
    return manager
