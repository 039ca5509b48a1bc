"""Piccolo app of gifting (marketing): one row per gift of a voucher."""

import os

from piccolo.conf.apps import AppConfig, table_finder

CURRENT_DIRECTORY = os.path.dirname(os.path.abspath(__file__))

APP_CONFIG = AppConfig(
    app_name="gifts",
    migrations_folder_path=os.path.join(CURRENT_DIRECTORY, "piccolo_migrations"),
    table_classes=table_finder(modules=["marketing.gifts.tables"], exclude_imported=True),
    migration_dependencies=["stores.piccolo_app", "cards.piccolo_app"],
    commands=[],
)
