"""Paid and bonus money on stored-value cards (issue 19, decision 049).

A template takes ``top_up_options`` (what a member may pay online and the bonus each
brings) and ``bonus_policy`` (how a charge splits paid and bonus money); a card keeps its
``bonus_balance_cents`` (paid money is ``balance_cents`` minus it); each ledger entry says
how much of its move was paid and how much bonus money, the card's bonus money after it,
and the top-up order it belongs to. Existing rows are filled by the next migration:
Piccolo runs a migration's raw steps before its column steps.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON, UUID, BigInt, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-06T22:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "paid and bonus money"

_COMMON = {"primary_key": False, "unique": False, "index": False,
           "index_method": IndexMethod.btree, "choices": None, "db_column_name": None,
           "secret": False}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cards", description=DESCRIPTION)
    columns = (
        ("CardTemplate", "card_template", "top_up_options", "JSON", JSON,
         {"default": "[]", "null": False}),
        ("CardTemplate", "card_template", "bonus_policy", "Varchar", Varchar,
         {"length": 16, "default": "proportional", "null": False}),
        ("Card", "card", "bonus_balance_cents", "BigInt", BigInt,
         {"default": 0, "null": False}),
        ("LedgerEntry", "card_ledger", "delta_paid_cents", "BigInt", BigInt,
         {"default": 0, "null": False}),
        ("LedgerEntry", "card_ledger", "delta_bonus_cents", "BigInt", BigInt,
         {"default": 0, "null": False}),
        ("LedgerEntry", "card_ledger", "bonus_after_cents", "BigInt", BigInt,
         {"default": 0, "null": False}),
        ("LedgerEntry", "card_ledger", "order_id", "UUID", UUID,
         {"default": None, "null": True}),
    )
    for class_name, tablename, name, column_class_name, column_class, params in columns:
        manager.add_column(
            table_class_name=class_name, tablename=tablename, column_name=name,
            db_column_name=name, column_class_name=column_class_name,
            column_class=column_class, params={**params, **_COMMON}, schema=None)
    return manager
