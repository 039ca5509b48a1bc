"""What issued a voucher (issue 20): ``source`` (claim, issue, job, automation, referral,
gift) and ``source_id`` (the job, automation or referral). Existing vouchers were claimed
or bulk issued: the default, "claim", is right for most and the results of issue 17 never
told them apart. The index on source_id is the next migration's (raw steps run first)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import UUID, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-07T01:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "voucher source"

_COMMON = {"primary_key": False, "unique": False, "index": False,
           "index_method": IndexMethod.btree, "choices": None, "db_column_name": None,
           "secret": False}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cards", description=DESCRIPTION)
    columns = (
        ("source", "Varchar", Varchar, {"length": 16, "default": "claim", "null": False}),
        ("source_id", "UUID", UUID, {"default": None, "null": True}),
    )
    for name, column_class_name, column_class, params in columns:
        manager.add_column(
            table_class_name="Voucher", tablename="voucher", column_name=name,
            db_column_name=name, column_class_name=column_class_name,
            column_class=column_class, params={**params, **_COMMON}, schema=None)
    return manager
