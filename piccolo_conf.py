"""Piccolo's entry point: the engine from O2O_DATABASE_URL and every domain's app."""

from piccolo.conf.apps import AppRegistry

from app.core.db import make_engine
from app.core.settings import Settings

DB = make_engine(Settings.from_env().database_url)

APP_REGISTRY = AppRegistry(
    apps=[
        "app.core.piccolo_app",
        "stores.piccolo_app",
    ]
)
