"""Benchmarks: run with `python -m bench.<name>`; they print tables, they assert nothing."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _block(name: str) -> tuple[Path, str, str, str]:
    """The one page (README.md or a guide under docs/) holding <!-- NAME:start --> ...
    <!-- NAME:end -->, and its text before the block, inside it, and after it."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    texts = {page: page.read_text() for page in (README, *sorted((ROOT / "docs").glob("*.md")))}
    pages = [page for page, text in texts.items() if start in text]
    if len(pages) != 1 or end not in texts[pages[0]]:
        raise SystemExit(f"README.md and docs/ need exactly one {start} ... {end} block to rewrite")
    head, rest = texts[pages[0]].split(start, 1)
    body, tail = rest.split(end, 1)
    return pages[0], head, body, tail


def read_readme_block(name: str) -> str:
    """What lies between <!-- NAME:start --> and <!-- NAME:end --> now."""
    return _block(name)[2].strip("\n")


def rewrite_readme_block(name: str, body: str) -> None:
    """Replace what lies between <!-- NAME:start --> and <!-- NAME:end --> by body, in the one
    page that holds the block: README.md or a guide under docs/ (`--readme` of each benchmark)."""
    page, head, _, tail = _block(name)
    page.write_text(f"{head}<!-- {name}:start -->\n{body.rstrip()}\n<!-- {name}:end -->{tail}")
