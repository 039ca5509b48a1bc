"""Piccolo's entry point for its own CLI run from the project root (`piccolo migrations ...`).

The configuration lives in the package, so an installed `o2o` finds it anywhere.
"""

from app.piccolo_conf import APP_REGISTRY, DB

__all__ = ["APP_REGISTRY", "DB"]
