"""Benchmarks: run with `python -m bench.<name>`; they print tables, they assert nothing."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def rewrite_readme_block(name: str, body: str) -> None:
    """Replace what lies between <!-- NAME:start --> and <!-- NAME:end --> by body, in the one
    page that holds the block: README.md or a guide under docs/ (`--readme` of each benchmark)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    pages = [page for page in (README, *sorted((ROOT / "docs").glob("*.md"))) if start in page.read_text()]
    if len(pages) != 1 or end not in pages[0].read_text():
        raise SystemExit(f"README.md and docs/ need exactly one {start} ... {end} block to rewrite")
    page = pages[0]
    head, rest = page.read_text().split(start, 1)
    _, tail = rest.split(end, 1)
    page.write_text(f"{head}{start}\n{body.rstrip()}\n{end}{tail}")
