"""Both times of a redemption (issue 15): ``redeemed_at`` is the time the scanner claims
(an offline scan's own clock), ``created_at`` stays the server's time of the write (the
``recorded_at`` of the API), which the reversal window, the day sheet and the stats key on.

Rows written before this migration keep ``redeemed_at`` NULL and read as ``created_at``
(for an online scan the two are the same instant). No backfill: a whole-table UPDATE of
the redemptions would rewrite every row for a value the code derives anyway.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Timestamptz
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-06T11:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "redemption redeemed_at"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cards", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Redemption",
        tablename="redemption",
        column_name="redeemed_at",
        db_column_name="redeemed_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params={
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )
    return manager
