"""README.md and the guides under docs/ as the tests read them: their links, their headings'
anchors, and the commands their blocks print (`$ command` lines, each followed by its output)."""

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
GUIDES = sorted((REPO / "docs").glob("*.md"))
PAGES = [README, *GUIDES]

_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]+)\)")


def prose(page: Path) -> str:
    """The page without its fenced blocks (a link inside a block is shown text, not a link)."""
    kept, fenced = [], False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced:
            kept.append(line)
    return "\n".join(kept)


def links(page: Path) -> list[str]:
    """Every link target of the page's prose, as written: `docs/x.md#anchor`, `../README.md`."""
    return [target for _, target in _LINK.findall(prose(page))]


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but `-` and `_` dropped, spaces
    to hyphens ("Large tables: `python -m bench.data_scale`" -> large-tables-python--m-benchdata_scale)."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {anchor(line.lstrip("#")) for line in prose(page).splitlines() if line.startswith("#")}


@dataclass(frozen=True)
class Shown:
    """One `$ command` of a page's block and the output printed under it (up to the next `$`)."""

    page: Path
    command: str
    output: tuple[str, ...]
    block: int  # the fenced block's index in the page: commands of one block share it


def shown(page: Path) -> list[Shown]:
    found: list[Shown] = []
    fenced, block = False, -1
    command: str | None = None
    output: list[str] = []

    def close() -> None:
        nonlocal command
        if command is not None:
            found.append(Shown(page, command, tuple(output), block))
        command = None

    for line in page.read_text().splitlines():
        if line.startswith("```"):
            close()
            fenced = not fenced
            block += fenced
            continue
        if not fenced:
            continue
        if line.startswith("$ "):
            close()
            command, output = line[2:], []
        elif command is not None:
            output.append(line)
    return found


def block_of(page: str, first: str) -> list[Shown]:
    """The commands of the block in `page` (relative to the repo) whose first command starts with
    `first`, as printed: the walkthrough tests run these, so a block that no longer runs as
    printed fails them. Fails when no block starts so, e.g. after the command was edited."""
    everything = shown(REPO / page)
    for i, item in enumerate(everything):
        if item.command.startswith(first) and (i == 0 or everything[i - 1].block != item.block):
            return [other for other in everything if other.block == item.block]
    raise AssertionError(f"{page} has no block that starts with `$ {first}`")
