"""Piccolo app of the stats rollups (PostgreSQL keeps them; see app/stats/README section in
the project README and the raw migration for the triggers that maintain them)."""

import os

from piccolo.conf.apps import AppConfig, table_finder

CURRENT_DIRECTORY = os.path.dirname(os.path.abspath(__file__))

APP_CONFIG = AppConfig(
    app_name="stats",
    migrations_folder_path=os.path.join(CURRENT_DIRECTORY, "piccolo_migrations"),
    table_classes=table_finder(modules=["app.stats.tables"], exclude_imported=True),
    migration_dependencies=["stores.piccolo_app", "cards.piccolo_app",
                            "bookings.piccolo_app"],
    commands=[],
)
