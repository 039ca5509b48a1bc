"""Every migration stands alone: none imports another.

A migration that imports an earlier one's SQL and patches it runs whatever that module
holds today, so editing the earlier file would silently change what the later one did
(and the SQL a database actually ran would exist nowhere whole). Each migration carries
its own text; the kernel's helpers (``app.core.migration_sql``) are not migrations.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from app.tables import APP_MODULES

MIGRATIONS = "piccolo_migrations"


def migration_files() -> list[Path]:
    """Every migration module of every Piccolo app the registry lists."""
    files: list[Path] = []
    for module in APP_MODULES:
        folder = Path(importlib.import_module(module).APP_CONFIG.migrations_folder_path)
        files.extend(p for p in sorted(folder.glob("*.py")) if p.name != "__init__.py")
    return files


def imported_modules(source: str) -> list[str]:
    """The module paths a source file imports: ``a.b`` for ``import a.b`` and for
    ``from a.b import c``; a relative import keeps its dots (``.``, ``.x``)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
    return names


def test_every_app_has_migrations() -> None:
    folders = {p.parent for p in migration_files()}
    assert len(folders) == len(APP_MODULES)


def test_no_migration_imports_another() -> None:
    offenders = [
        f"{path.parent.parent.name}/{path.name} imports {name}"
        for path in migration_files()
        for name in imported_modules(path.read_text(encoding="utf-8"))
        if MIGRATIONS in name or name.startswith(".")  # a relative import is a sibling
    ]
    assert offenders == [], "a migration must carry its own SQL, not import another's"


def test_the_check_sees_every_import_form() -> None:
    source = (
        "from app.core.migration_sql import raw_ddl\n"
        "from app.stats.piccolo_migrations.stats_x import _REBUILD\n"
        "import cards.piccolo_migrations.cards_y\n"
        "from . import stats_z\n"
        "def f():\n    from .stats_w import _UP\n"
    )
    assert imported_modules(source) == [
        "app.core.migration_sql", "app.stats.piccolo_migrations.stats_x",
        "cards.piccolo_migrations.cards_y", ".", ".stats_w"]
