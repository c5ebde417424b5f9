"""README.md and docs/ hold together: every relative link reaches its file and heading, the
README leads to every document, and docs/architecture.md says what LAYERS and the tree say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.unit.test_layering import BASE, LAYERS, PACKAGE

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")


def documents(root: Path) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def anchors(text: str) -> set[str]:
    """GitHub's anchors of a document's headings: lower case, punctuation dropped, spaces as
    hyphens (fenced code is no heading)."""
    prose = re.sub(r"(?ms)^```.*?^```", "", text)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"(?m)^#{1,6} (.+)$", prose)}


def broken_links(root: Path) -> list[str]:
    """Every relative link of README.md and docs/*.md under `root` whose file or heading is
    missing, as `document: target`."""
    broken = []
    for document in documents(root):
        text = document.read_text()
        prose = re.sub(r"(?ms)^```.*?^```", "", text)
        for match in LINK.finditer(prose):
            target = match["target"]
            if re.match(r"[a-z]+:", target):
                continue  # http:, https:, mailto: are not ours to check here
            path, _, anchor = target.partition("#")
            file = (document.parent / path).resolve() if path else document
            heading_missing = anchor and file.exists() and (
                file.suffix != ".md" or anchor not in anchors(file.read_text()))
            if not file.exists() or heading_missing:
                broken.append(f"{document.relative_to(root)}: {target}")
    return broken


def test_every_relative_link_reaches_its_file_and_heading() -> None:
    assert broken_links(ROOT) == []


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A\n\n## Two words\n\n[up](../README.md#start)\n")
    (tmp_path / "README.md").write_text(
        "# Start\n\n[ok](docs/a.md#two-words) [no file](docs/b.md) [no heading](docs/a.md#three)\n"
        "[web](https://example.org/x.md) [self](#start) [gone](#nowhere)\n"
        "```sh\n[not a link](docs/c.md)\n```\n")
    assert broken_links(tmp_path) == [
        "README.md: docs/b.md", "README.md: docs/a.md#three", "README.md: #nowhere"]


def test_the_readme_leads_to_every_document() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Documentation"):]
    linked = {match["target"].partition("#")[0] for match in LINK.finditer(section)}
    assert {f"docs/{path.name}" for path in DOCS.glob("*.md")} <= linked
    assert {"docs/architecture.md", "docs/records.md", "docs/operations.md"} <= linked


def test_the_readme_stays_short_and_names_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 12 * 1024
    assert "make run" in readme and "make test" in readme


def _import_table(text: str) -> dict[str, set[str]]:
    """The architecture document's "Who may import whom" table: part -> the parts it may import."""
    section = text[text.index("## Who may import whom"):]
    section = section[:section.index("\n## ", 1)] if "\n## " in section[1:] else section
    table: dict[str, set[str]] = {}
    for row in re.findall(r"(?m)^\| (.+) \| (.+) \|$", section):
        parts = re.findall(r"`([\w.]+)`", row[0])
        for part in parts:
            table[part] = set(re.findall(r"`([\w.]+)`", row[1]))
    return table


def test_the_architecture_says_what_layers_says() -> None:
    table = _import_table((DOCS / "architecture.md").read_text())
    expected = {part: allowed for part, allowed in LAYERS.items() if part not in BASE}
    expected.update({name: set() for name in BASE - {"__init__"}})
    assert table == expected


def test_the_architecture_names_every_part_of_the_tree() -> None:
    text = (DOCS / "architecture.md").read_text()
    packages = {f"{path.parent.relative_to(PACKAGE).as_posix()}/" for path in PACKAGE.rglob("__init__.py")
                if path.parent != PACKAGE}
    modules = {path.name for path in PACKAGE.glob("*.py") if path.stem != "__init__"}
    for name in packages | modules:
        assert f"`{name}`" in text or f"`{name.removesuffix('.py')}`" in text, name


@pytest.mark.parametrize("name", ["LAYERS", "run/workers/record_pipe.py", "snmp/udp_requester.py"])
def test_the_architecture_points_at_what_exists(name: str) -> None:
    text = (DOCS / "architecture.md").read_text()
    assert name in text
    if "/" in name:
        assert (PACKAGE / name).exists()
