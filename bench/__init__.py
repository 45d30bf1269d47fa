"""Benchmarks: run with `python -m bench.<name>`; they print tables, they assert nothing."""

from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def rewrite_readme_block(name: str, body: str) -> None:
    """Replace what README.md holds between <!-- NAME:start --> and <!-- NAME:end --> by body."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = README.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"README.md has no {start} ... {end} block to rewrite")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    README.write_text(f"{head}{start}\n{body.rstrip()}\n{end}{tail}")
