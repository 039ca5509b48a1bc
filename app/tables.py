"""Every table of every domain, from the Piccolo app registry (used to bind engines)."""

from __future__ import annotations

import importlib

from piccolo.table import Table

APP_MODULES = (
    "app.core.piccolo_app",
    "stores.piccolo_app",
    "cards.piccolo_app",
    "bookings.piccolo_app",
    "payments.piccolo_app",
    "cardbag.piccolo_app",
    "marketing.segments.piccolo_app",
    "marketing.jobs.piccolo_app",
    "marketing.automations.piccolo_app",
    "marketing.referral.piccolo_app",
    "marketing.gifts.piccolo_app",
    "app.stats.piccolo_app",
)


def all_tables() -> list[type[Table]]:
    tables: list[type[Table]] = []
    for module in APP_MODULES:
        tables.extend(importlib.import_module(module).APP_CONFIG.table_classes)
    return tables
