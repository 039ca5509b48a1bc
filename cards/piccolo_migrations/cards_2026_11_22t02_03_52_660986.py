from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-22T02:03:52:660986"
VERSION = "1.38.0"
DESCRIPTION = "claimable templates"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="cards", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="CardTemplate",
        tablename="card_template",
        column_name="claimable",
        db_column_name="claimable",
        column_class_name="Boolean",
        column_class=Boolean,
        params={
            "default": True,
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
