"""Piccolo app of referral (marketing): the chain's program, members' codes, invites."""

import os

from piccolo.conf.apps import AppConfig, table_finder

CURRENT_DIRECTORY = os.path.dirname(os.path.abspath(__file__))

APP_CONFIG = AppConfig(
    app_name="referral",
    migrations_folder_path=os.path.join(CURRENT_DIRECTORY, "piccolo_migrations"),
    table_classes=table_finder(modules=["marketing.referral.tables"], exclude_imported=True),
    migration_dependencies=["stores.piccolo_app", "cards.piccolo_app"],
    commands=[],
)
