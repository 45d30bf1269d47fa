"""README.md is a landing page and the guides under docs/ hold the rest: every link between them
resolves (file and heading), each guide is reachable from the README and leads back, the params
reference lists exactly params.yaml's keys with their defaults, and every printed command names
modules and params that exist. Running the printed commands is test_guides.py's work."""

import importlib.util
import re
import shlex

import pytest
import yaml

from .docs_pages import GUIDES, PAGES, README, REPO, anchor, anchors, links, prose, shown


def test_the_readme_is_a_landing_page():
    lines = README.read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; move the detail to a guide under docs/"
    # the two commands at the top: one sets up and runs the pipeline, one the tests
    assert lines[2] == "```bash" and lines[5] == "```"
    assert lines[3].startswith("make repro   # fresh clone:")
    assert lines[4].startswith("make test    # fresh clone:")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_link_resolves_to_a_file_and_heading(page):
    broken = []
    for target in links(page):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, fragment = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.is_file() or REPO not in file.parents:
            broken.append(f"{target}: no such file in the repository")
        elif fragment and file.suffix == ".md" and fragment not in anchors(file):
            broken.append(f"{target}: {file.relative_to(REPO)} has no heading with that anchor")
    assert not broken, f"{page.relative_to(REPO)}: " + "; ".join(broken)


def test_each_guide_is_in_the_readmes_table_and_links_back():
    linked = {(REPO / target.partition("#")[0]).resolve() for target in links(README)}
    assert set(GUIDES) <= linked, sorted(g.name for g in set(GUIDES) - linked)
    for guide in GUIDES:
        back = [t for t in links(guide) if t.partition("#")[0] == "../README.md"]
        assert back, f"{guide.name} has no link back to the README"
        assert guide.read_text().startswith("# "), f"{guide.name} starts with its title"


def test_the_anchor_rule_is_githubs():
    assert anchor(" Large tables: `python -m bench.data_scale`") == "large-tables-python--m-benchdata_scale"
    assert anchor("Against LightGBM tuned by the same budget: `python -m bench.tune`") == (
        "against-lightgbm-tuned-by-the-same-budget-python--m-benchtune"
    )


def _reference_rows() -> dict[str, str]:
    rows = {}
    for line in prose(REPO / "docs/params.md").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"`\w+\.\w+`", cells[0]):
            rows[cells[0].strip("`")] = cells[1].strip("`")
    return rows


def _params_keys() -> dict[str, object]:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    return {f"{section}.{key}": value for section, keys in params.items() for key, value in keys.items()}


def test_the_params_reference_lists_every_key_with_its_default():
    reference, keys = _reference_rows(), _params_keys()
    assert list(reference) == list(keys), "docs/params.md's table: one row per key, in params.yaml's order"
    for key, default in reference.items():
        assert yaml.safe_load(default) == keys[key], f"docs/params.md says {key} defaults to {default}"
    # written once: params.yaml points to the reference instead of describing each key
    comments = [line for line in (REPO / "params.yaml").read_text().splitlines() if "#" in line]
    assert all(line.startswith("# ") for line in comments) and len(comments) <= 3, comments
    assert "docs/params.md" in "\n".join(comments)


def test_the_tour_is_the_guides_commands():
    tour = prose(README).split("## A tour", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in tour.splitlines() if line.startswith("| ") and "](docs/" in line]
    assert len(rows) >= 8
    for row in rows:
        linked = re.search(r"\]\((docs/[\w-]+\.md)", row)
        assert linked, row
        guide = REPO / linked[1]
        printed = {item.command for item in shown(guide)}
        for snippet in re.findall(r"`([^`]+)`", row.split("|")[2]):
            assert any(snippet in command for command in printed), f"{guide.name} does not show `{snippet}`"


def _overrides(command: str) -> list[str]:
    words = shlex.split(command, comments=True)
    return [words[i + 1] for i, word in enumerate(words[:-1]) if word in ("-S", "--set-param")]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_printed_commands_name_modules_and_params_that_exist(page):
    keys = _params_keys()
    for item in shown(page):
        for module in re.findall(r"python -m ([\w.]+)", item.command):
            assert importlib.util.find_spec(module) is not None, f"{page.name}: `$ {item.command}`"
        for override in _overrides(item.command):
            key = override.split("=", 1)[0].lstrip("+")
            if key not in keys:  # only where the page shows the mistake and its error
                assert any("error" in line.lower() for line in item.output), (
                    f"{page.name}: `$ {item.command}` sets {key}, which params.yaml lacks"
                )
