"""The WeChat card bag's tables (issue 21)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import (
    UUID,
    BigInt,
    Boolean,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.defaults.uuid import UUID4
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-07T05:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "card bag"

_COMMON = {"index": False, "index_method": IndexMethod.btree, "choices": None,
           "db_column_name": None, "secret": False}
_PLAIN = {"primary_key": False, "unique": False}


def _uuid(primary_key=False):
    return ("UUID", UUID, {"default": UUID4(), "null": False, "primary_key": primary_key,
                           "unique": False})


def _varchar(length, null=False, default="", unique=False):
    return ("Varchar", Varchar, {"length": length, "default": None if null else default,
                                 "null": null, "primary_key": False, "unique": unique})


def _text(null=False):
    return ("Text", Text, {"default": None if null else "", "null": null, **_PLAIN})


def _time(null=False):
    return ("Timestamptz", Timestamptz,
            {"default": None if null else TimestamptzNow(), "null": null, **_PLAIN})


def _int(null=False, default=0):
    return ("Integer", Integer, {"default": None if null else default, "null": null,
                                 **_PLAIN})


TABLES = {
    ("WechatCard", "cardbag_template"): (
        ("template_id", _uuid(primary_key=True)),
        ("chain_id", _uuid()),
        ("wechat_card_id", _varchar(64, null=True, unique=True)),
        ("status", _varchar(12, default="creating")),
        ("reject_reason", _text(null=True)),
        ("logo_url", _varchar(512)),
        ("brand_name", _varchar(36)),
        ("color", _varchar(16, null=True)),
        ("notice", _varchar(48, null=True)),
        ("description", _text(null=True)),
        ("created_at", _time()),
        ("updated_at", _time()),
        ("reviewed_at", _time(null=True)),
    ),
    ("BagCard", "cardbag_card"): (
        ("card_id", _uuid(primary_key=True)),
        ("chain_id", _uuid()),
        ("template_id", _uuid()),
        ("wechat_card_id", _varchar(64)),
        ("code", _varchar(24)),
        ("openid", _varchar(64, null=True)),
        ("state", _varchar(8, default="in_bag")),
        ("added_at", _time()),
        ("removed_at", _time(null=True)),
        ("activated_at", _time(null=True)),
        ("synced_seq", _int()),
        ("synced_tier", _varchar(60, null=True)),
        ("synced_status", _varchar(16, null=True)),
        ("synced_at", _time(null=True)),
        ("dirty", ("Boolean", Boolean, {"default": True, "null": False, **_PLAIN})),
        ("due_at", _time()),
        ("attempts", _int()),
        ("lease_until", _time(null=True)),
        ("lease_owner", _varchar(36, null=True)),
        ("last_error", _text(null=True)),
        ("last_errcode", _int(null=True)),
    ),
    ("FeedCursor", "cardbag_cursor"): (
        ("chain_id", _uuid(primary_key=True)),
        ("last_sequence", ("BigInt", BigInt, {"default": 0, "null": False, **_PLAIN})),
        ("updated_at", _time()),
    ),
    ("SyncLog", "cardbag_sync_log"): (
        ("id", _uuid(primary_key=True)),
        ("chain_id", _uuid()),
        ("template_id", _uuid()),
        ("card_id", _uuid()),
        ("action", _varchar(12)),
        ("seq", _int(null=True)),
        ("outcome", _varchar(8)),
        ("errcode", _int(null=True)),
        ("note", _text()),
        ("at", _time()),
    ),
    ("TakenPush", "cardbag_push"): (
        ("key", ("Varchar", Varchar, {"length": 255, "default": "", "null": False,
                                      "primary_key": True, "unique": False})),
        ("chain_id", _uuid()),
        ("received_at", _time()),
    ),
}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cardbag", description=DESCRIPTION)
    for (class_name, tablename), columns in TABLES.items():
        manager.add_table(class_name=class_name, tablename=tablename, schema=None,
                          columns=None)
        for name, (column_class_name, column_class, params) in columns:
            manager.add_column(
                table_class_name=class_name, tablename=tablename, column_name=name,
                db_column_name=name, column_class_name=column_class_name,
                column_class=column_class, params={**params, **_COMMON}, schema=None)
    return manager
