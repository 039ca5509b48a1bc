"""A program may reward a first visit only once it can no longer be reversed (24 h):
a scan made and reversed for a fake friend then gives nothing (review of issue 20).
Off for every existing program."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-07T02:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "referral program: reward after the reversal window"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="referral", description=DESCRIPTION)
    manager.add_column(
        table_class_name="ReferralProgram",
        tablename="referral_program",
        column_name="reward_after_reversal_window",
        db_column_name="reward_after_reversal_window",
        column_class_name="Boolean",
        column_class=Boolean,
        params={
            "default": False,
            "null": False,
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
