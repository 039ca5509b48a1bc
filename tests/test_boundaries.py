"""The house's doors, read from the source (no import runs): imports flow one way,
``app.core <- stores <- cards <- bookings <- payments <- cardbag <- marketing <- app``,
and no module outside a domain imports that domain's repository. Another domain asks
through the domain's public functions (``stores/service.py``, ``cards/public.py``), so a
rule has one home and a query one owner.

Reading another domain's ``tables`` module is allowed: a repository joins the tables it
needs (bookings' list joins stores' ``Store`` and ``Service``), and the stats rollups read
every domain's tables by design (``app/stats/repository.py``: one SQL aggregate over the
raw rows, no detour through the services). Tests and benchmarks are harnesses, not the
house, and are not checked.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "stores", "cards", "bookings", "payments", "cardbag", "marketing")
# Each domain and the dotted name of its repository module(s).
DOMAINS = {
    "stores": ("stores.repository",),
    "cards": ("cards.repository",),
    "bookings": ("bookings.repository",),
    "payments": ("payments.repository",),
    "cardbag": ("cardbag.repository", "cardbag.sync_repository"),
    "marketing.referral": ("marketing.referral.repository",),
    "marketing.automations": ("marketing.automations.repository",),
    "marketing.gifts": ("marketing.gifts.repository",),
    "marketing.segments": ("marketing.segments.repository",),
    "marketing.jobs": ("marketing.jobs.repository",),
    "app.stats": ("app.stats.repository",),
}
# The layers, first to last: a module may import its own layer and earlier ones only.
LAYERS = ("app.core", "stores", "cards", "bookings", "payments", "cardbag", "marketing",
          "app")


def _modules() -> Iterator[tuple[str, str]]:
    """(path relative to the root, dotted module name) of every source module."""
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if "piccolo_migrations" in rel.parts:
                continue  # migrations are frozen history, never imported by code
            parts = list(rel.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            yield rel.as_posix(), ".".join(parts)


def _imports(path: str) -> Iterator[tuple[int, str]]:
    """(line, dotted name) of each module an import brings in, at any depth (a late
    import inside a function counts too); ``from x import y`` gives ``x.y`` and ``x``."""
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _domain_of(module: str) -> str | None:
    return next((d for d in DOMAINS if _within(module, d)), None)


def _layer_of(module: str) -> int:
    """The index of the most specific layer holding ``module`` (app.core before app)."""
    return max((i for i, layer in enumerate(LAYERS) if _within(module, layer)),
               key=lambda i: len(LAYERS[i]))


def test_no_module_imports_another_domains_repository() -> None:
    offenders = []
    for path, module in _modules():
        for line, name in _imports(path):
            owner = _domain_of(name)
            if owner is None or _domain_of(module) == owner:
                continue
            if any(_within(name, repository) for repository in DOMAINS[owner]):
                offenders.append(f"{path}:{line} imports {name}")
    assert not offenders, ("ask the domain's public functions instead:\n"
                           + "\n".join(sorted(set(offenders))))


def test_imports_flow_one_way() -> None:
    """A layer never imports a later one: where an earlier domain must act on a later
    one's object, the later one registers a handler with it at start-up."""
    offenders = []
    for path, module in _modules():
        for line, name in _imports(path):
            if name.split(".")[0] not in PACKAGES:
                continue  # the standard library and third-party packages
            if _layer_of(name) > _layer_of(module):
                offenders.append(f"{path}:{line} ({LAYERS[_layer_of(module)]}) imports "
                                 f"{name} ({LAYERS[_layer_of(name)]})")
    assert not offenders, "\n".join(sorted(set(offenders)))


def test_the_checks_see_what_they_guard() -> None:
    """The walk finds the modules and the imports it judges (a moved tree or a renamed
    package would otherwise pass the rules above by checking nothing)."""
    modules = dict(_modules())
    assert {"bookings/service.py", "cards/public.py", "stores/service.py",
            "app/core/db.py"} <= set(modules)
    assert "cards.public" in {name for _, name in _imports("bookings/service.py")}
