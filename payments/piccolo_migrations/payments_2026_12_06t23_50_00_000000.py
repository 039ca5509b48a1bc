"""Issue 19 review (F4, F7, F9): each order remembers the merchant it was placed with
(``mchid``, ``appid``, ``platform_public_key_id``), who was asked to pay
(``payer_openid``) and why it ended although WeChat Pay took money (``anomaly``); a
chain's superseded WeChat Pay configs are kept sealed in ``pay_config_previous``. The
next migration fills the existing orders' merchant and adds the indexes."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import UUID, ForeignKey, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table


class Chain(Table, tablename="chain", schema=None):
    id = UUID(default=UUID4(), null=False, primary_key=True, unique=False, index=False,
              index_method=IndexMethod.btree, choices=None, db_column_name=None,
              secret=False)


ID = "2026-12-06T23:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "order merchant and previous configs"

_COMMON = {"primary_key": False, "unique": False, "index": False,
           "index_method": IndexMethod.btree, "choices": None, "db_column_name": None,
           "secret": False}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="payments", description=DESCRIPTION)
    orders = (
        ("mchid", Varchar, {"length": 32, "default": "", "null": False}),
        ("appid", Varchar, {"length": 64, "default": "", "null": False}),
        ("platform_public_key_id", Varchar, {"length": 64, "default": "", "null": False}),
        ("payer_openid", Varchar, {"length": 128, "default": None, "null": True}),
        ("anomaly", Varchar, {"length": 24, "default": None, "null": True}),
    )
    for name, column_class, params in orders:
        manager.add_column(
            table_class_name="TopUpOrder", tablename="top_up_order", column_name=name,
            db_column_name=name, column_class_name=column_class.__name__,
            column_class=column_class, params={**params, **_COMMON}, schema=None)

    manager.add_table(class_name="PayConfigPrevious", tablename="pay_config_previous",
                      schema=None, columns=None)
    previous = (
        ("id", UUID, {**_COMMON, "default": UUID4(), "null": False, "primary_key": True}),
        ("chain", ForeignKey, {**_COMMON, "references": Chain,
                               "on_delete": OnDelete.cascade, "on_update": OnUpdate.cascade,
                               "target_column": None, "null": False, "index": True}),
        ("mchid", Varchar, {**_COMMON, "length": 32, "default": "", "null": False}),
        ("appid", Varchar, {**_COMMON, "length": 64, "default": "", "null": False}),
        ("merchant_serial_no", Varchar, {**_COMMON, "length": 64, "default": "",
                                         "null": False}),
        ("merchant_private_key_sealed", Text, {**_COMMON, "default": "", "null": False}),
        ("apiv3_key_sealed", Varchar, {**_COMMON, "length": 255, "default": "",
                                       "null": False}),
        ("platform_public_key_id", Varchar, {**_COMMON, "length": 64, "default": "",
                                             "null": False}),
        ("platform_public_key_pem", Text, {**_COMMON, "default": "", "null": False}),
        ("updated_at", Timestamptz, {**_COMMON, "default": TimestamptzNow(), "null": False}),
        ("superseded_at", Timestamptz, {**_COMMON, "default": TimestamptzNow(),
                                        "null": False}),
    )
    for name, column_class, params in previous:
        manager.add_column(
            table_class_name="PayConfigPrevious", tablename="pay_config_previous",
            column_name=name, db_column_name=name, column_class_name=column_class.__name__,
            column_class=column_class, params=params, schema=None)
    return manager
