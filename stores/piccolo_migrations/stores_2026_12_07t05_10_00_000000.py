"""The official account's message server (issue 21): the chain's WeChat config keeps the
server's Token and EncodingAESKey (sealed, null until set) and whether the chain's cards
go to WeChat's card bag (false for every chain until an operator says so)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-07T05:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "wechat message server"

_COMMON = {"primary_key": False, "unique": False, "index": False,
           "index_method": IndexMethod.btree, "choices": None, "db_column_name": None,
           "secret": False}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="stores", description=DESCRIPTION)
    for name in ("server_token_sealed", "encoding_aes_key_sealed"):
        manager.add_column(
            table_class_name="WechatConfig", tablename="wechat_config", column_name=name,
            db_column_name=name, column_class_name="Varchar", column_class=Varchar,
            params={"length": 512, "default": None, "null": True, **_COMMON}, schema=None)
    manager.add_column(
        table_class_name="WechatConfig", tablename="wechat_config", column_name="card_bag",
        db_column_name="card_bag", column_class_name="Boolean", column_class=Boolean,
        params={"default": False, "null": False, **_COMMON}, schema=None)
    return manager
