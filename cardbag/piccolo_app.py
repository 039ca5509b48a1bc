"""Piccolo app of the WeChat card bag: templates made WeChat cards, cards in members' card
bags, the sync's cursor and log, and the pushes already taken."""

import os

from piccolo.conf.apps import AppConfig, table_finder

CURRENT_DIRECTORY = os.path.dirname(os.path.abspath(__file__))

APP_CONFIG = AppConfig(
    app_name="cardbag",
    migrations_folder_path=os.path.join(CURRENT_DIRECTORY, "piccolo_migrations"),
    table_classes=table_finder(modules=["cardbag.tables"], exclude_imported=True),
    migration_dependencies=["stores.piccolo_app", "cards.piccolo_app"],
    commands=[],
)
