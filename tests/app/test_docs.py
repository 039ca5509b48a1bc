"""The documentation holds together: the contract is the shared one, and no link is dead.

``docs/contract.md`` is a copy of ``../shared/API.md`` (the authority, beside the
repository) so that the README can link inside the repository; a copy that drifts would
document a contract nobody serves. Every relative link of README.md and docs/ must reach
a file (and, for a ``#fragment`` into a Markdown file, one of its headings), so moving a
page cannot silently strand the pages that point at it.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "docs" / "contract.md"
SHARED_CONTRACT = ROOT.parent / "shared" / "API.md"

# [text](target) and ![alt](target); a target ends at whitespace or ")".
_LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def links(text: str) -> list[str]:
    """The link targets of a Markdown text, outside code blocks and code spans."""
    return _LINK.findall(_CODE_SPAN.sub("", _FENCE.sub("", text)))


def anchors(text: str) -> set[str]:
    """The fragments GitHub gives a page's headings: lower case, punctuation dropped
    (letters, digits, ``-`` and ``_`` kept), spaces as hyphens."""
    slugs = set()
    for heading in _HEADING.findall(_FENCE.sub("", text)):
        plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
        slugs.add(re.sub(r"[^\w\- ]", "", plain.lower()).replace(" ", "-"))
    return slugs


def dead_link(page: Path, target: str) -> str | None:
    """Why ``target`` (a link on ``page``) is dead, or None when it is fine or not ours."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("//"):
        return None  # http:, https:, mailto: ...: not a file of the repository
    path_part, _, fragment = target.partition("#")
    path_part = path_part.split("?", 1)[0]
    resolved = (page.parent / path_part).resolve() if path_part else page
    if not resolved.exists():
        return "no such file"
    if ROOT not in resolved.parents and resolved != ROOT:
        return "outside the repository"
    if fragment and resolved.suffix == ".md" and fragment not in anchors(resolved.read_text()):
        return f"no heading #{fragment}"
    return None


def test_contract_is_the_shared_one() -> None:
    if not SHARED_CONTRACT.is_file():
        pytest.skip(f"{SHARED_CONTRACT} is absent (the repository is not checked out beside "
                    "shared/): nothing to compare docs/contract.md with")
    shared, ours = SHARED_CONTRACT.read_text(), CONTRACT.read_text()
    diff = "".join(list(difflib.unified_diff(shared.splitlines(True), ours.splitlines(True),
                                             "../shared/API.md", "docs/contract.md"))[:40])
    assert shared == ours, f"docs/contract.md differs from ../shared/API.md; copy it:\n{diff}"


def test_every_relative_link_reaches_a_file() -> None:
    dead = [f"{page.relative_to(ROOT)}: {target} ({why})"
            for page in markdown_files()
            for target in links(page.read_text())
            if (why := dead_link(page, target)) is not None]
    assert dead == []


def test_the_link_check_finds_what_it_must() -> None:
    text = ("[a](docs/api.md) ![b](docs/screenshots/x.png \"t\") [c](https://x.org/y)\n"
            "`[not](a-link.md)`\n```\n[nor](this.md)\n```\n[d](#the-api)")
    assert links(text) == ["docs/api.md", "docs/screenshots/x.png", "https://x.org/y",
                           "#the-api"]
    assert anchors("# The API: as built\n## [Open](x.md) loop\n") == {"the-api-as-built",
                                                                       "open-loop"}
    readme = ROOT / "README.md"
    assert dead_link(readme, "docs/nowhere.md") == "no such file"
    assert dead_link(readme, "docs/operations.md#no-such-part") == "no heading #no-such-part"
    assert dead_link(readme, "docs/operations.md#command-line") is None
    assert dead_link(readme, "https://example.org/missing") is None
