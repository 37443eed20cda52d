"""Every source a comment, docstring, scenario or the README cites is a file a reader can open.

The facts behind the scenario data are kept in the repository (docs/ROUTER-FACTS.md); a citation
``docs/ROUTER-FACTS.md §2.7`` must name a section heading that exists there, and no citation may
point at the old out-of-tree copy.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FACTS = ROOT / "docs" / "ROUTER-FACTS.md"
CITED = re.compile(r"docs/ROUTER-FACTS\.md(?: (§[0-9][0-9.]*[0-9]|§[0-9]))?")


def _sources() -> list[Path]:
    files = [ROOT / "README.md"]
    for folder, pattern in (("pytest_hfrouter", "*.py"), ("cassettes", "*.yaml"), ("cassettes", "*.md")):
        files.extend(sorted((ROOT / folder).rglob(pattern)))
    return files


def test_every_cited_section_exists_in_the_repository() -> None:
    headings = {m.group(1) for m in re.finditer(r"^#{2,3} ([0-9][0-9.]*[0-9]|[0-9])[. ]", FACTS.read_text(), re.M)}
    cited: dict[str, list[str]] = {}
    for path in _sources():
        for match in CITED.finditer(path.read_text(encoding="utf-8")):
            if match.group(1):
                cited.setdefault(match.group(1).lstrip("§"), []).append(path.relative_to(ROOT).as_posix())
    assert len(cited) >= 10, f"the citation pattern found almost nothing: {sorted(cited)}"
    missing = {section: places for section, places in cited.items() if section not in headings}
    assert not missing, f"cited sections with no heading in docs/ROUTER-FACTS.md: {missing}"


def test_no_citation_points_outside_the_repository() -> None:
    outside = [
        path.relative_to(ROOT).as_posix()
        for path in _sources()
        if re.search(r"shared/reference|\.\./shared", path.read_text(encoding="utf-8"))
    ]
    assert not outside, f"these cite files that are not in the repository: {outside}"


def test_the_architecture_page_names_every_module_of_the_package() -> None:
    """docs/ARCHITECTURE.md is where a contributor looks for where a change goes: a module it does
    not name is one nobody will find."""
    page = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    package = ROOT / "pytest_hfrouter"
    modules = sorted(p for p in package.rglob("*.py") if p.name != "__init__.py")
    assert len(modules) > 40, modules
    unnamed = [
        p.relative_to(package).as_posix()
        for p in modules
        if f"`{p.name}`" not in page and f"`{p.stem}`" not in page and f"`{p.stem}." not in page
    ]
    assert not unnamed, f"modules docs/ARCHITECTURE.md does not name: {unnamed}"
