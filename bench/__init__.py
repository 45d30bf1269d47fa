"""Benchmarks: run with `python -m bench.<name>`; they print tables, they assert nothing."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _block_page(name: str) -> Path:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    pages = [page for page in (README, *sorted((ROOT / "docs").glob("*.md"))) if start in page.read_text()]
    if len(pages) != 1 or end not in pages[0].read_text():
        raise SystemExit(f"README.md and docs/ need exactly one {start} ... {end} block to rewrite")
    return pages[0]


def read_readme_block(name: str) -> str:
    """What lies between <!-- NAME:start --> and <!-- NAME:end --> now."""
    text = _block_page(name).read_text()
    return text.split(f"<!-- {name}:start -->", 1)[1].split(f"<!-- {name}:end -->", 1)[0].strip("\n")


def rewrite_readme_block(name: str, body: str) -> None:
    """Replace what lies between <!-- NAME:start --> and <!-- NAME:end --> by body, in the one
    page that holds the block: README.md or a guide under docs/ (`--readme` of each benchmark)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    page = _block_page(name)
    head, rest = page.read_text().split(start, 1)
    _, tail = rest.split(end, 1)
    page.write_text(f"{head}{start}\n{body.rstrip()}\n{end}{tail}")
