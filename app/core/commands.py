"""What every one-shot `o2o` command needs: safe settings and tables bound to an engine."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from piccolo.table import Table

from app.core.settings import Settings, SettingsError


def settings_or_exit() -> Settings:
    """The settings, or exit 2 with the one-line reason they are unsafe or wrong."""
    try:
        return Settings.from_env()
    except SettingsError as exc:
        print(f"o2o: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


@asynccontextmanager
async def bound_engine(settings: Settings,
                       tables: Iterable[type[Table]] | None = None) -> AsyncIterator[None]:
    """Tables (default: every app's) bound to the configured engine; closed after."""
    from app.core.db import bind_tables, close_engine, make_engine, prepare_engine

    if tables is None:
        from piccolo.conf.apps import Finder

        from app.core.piccolo_app import APP_CONFIG

        tables = [t for app in Finder().get_app_registry().app_configs.values()
                  for t in app.table_classes] or APP_CONFIG.table_classes
    engine = make_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    bind_tables(engine, tables)
    await prepare_engine(engine)
    try:
        yield
    finally:
        await close_engine(engine)
