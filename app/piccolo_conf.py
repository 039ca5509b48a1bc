"""Piccolo configuration inside the package (the CLI points PICCOLO_CONF here)."""

from piccolo.conf.apps import AppRegistry

from app.core.db import make_engine
from app.core.settings import Settings

DB = make_engine(Settings.from_env().database_url, kept_connections=False)

from app.tables import APP_MODULES  # noqa: E402 - one list of apps for both uses

APP_REGISTRY = AppRegistry(apps=list(APP_MODULES))
