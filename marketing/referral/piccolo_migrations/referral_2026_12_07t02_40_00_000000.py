"""A program may ask for the invitee's phone proved through WeChat before it rewards
(review of issue 20: a customer's second WeChat account, or a fake one, looked new).
Off for every existing program."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-07T02:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "referral program: require a verified phone"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="referral", description=DESCRIPTION)
    manager.add_column(
        table_class_name="ReferralProgram",
        tablename="referral_program",
        column_name="require_verified_phone",
        db_column_name="require_verified_phone",
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
