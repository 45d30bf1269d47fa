"""What a person sees of `dvc plots show` and `dvc plots diff`: each page drawn by a real browser
(Debian's Chromium, headless), and every vega view's marks read back from the SVG it drew.

`dvc plots show --json` only says which data a view gets; a template can still draw nothing
(a reliability curve whose points were a pixel wide), a reference line in the wrong place
(min and max of numbers that DVC hands over as strings), or bars in the wrong order.
"""

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from .conftest import Project, read_csv

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium")


@pytest.fixture(scope="module")
def browser() -> str:
    if CHROMIUM is None:
        message = "needs Debian's chromium on PATH (apt-get install chromium)"
        if os.environ.get("CI"):  # .ci/run installs it: a missing browser there is a failure
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


class Marks(HTMLParser):
    """The rendered page's views (DVC's one <div id="metrics_..."> each, which vega draws into)
    and, in each, the attributes of every element vega labels for screen readers: its marks,
    axes and legends."""

    def __init__(self) -> None:
        super().__init__()
        self.views: dict[str, list[dict[str, str]]] = {}
        self.current: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {key: value or "" for key, value in attrs}
        if tag == "div" and named.get("id", "").startswith("metrics_"):
            self.current = named["id"]
            self.views[self.current] = []
        elif self.current and named.get("role") == "graphics-symbol":
            self.views[self.current].append(named)


def draw(browser: str, page: Path, profile: Path) -> dict[str, list[dict[str, str]]]:
    """The page as Chromium renders it, after its scripts ran: view id -> its marks."""
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
         "--virtual-time-budget=20000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    parser = Marks()
    parser.feed(done.stdout)
    return {view: marks for view, marks in parser.views.items() if not view.endswith("_png")}


def kind(marks: list[dict[str, str]], description: str) -> list[dict[str, str]]:
    return [mark for mark in marks if mark.get("aria-roledescription") == description]


def bars_top_to_bottom(marks: list[dict[str, str]]) -> list[str]:
    """The columns of the bars as they stand on the page, from the top (a bar's path starts at
    its top-left corner); each column once, whatever the number of revisions."""
    bars = sorted(kind(marks, "bar"), key=lambda bar: path_points(bar)[0][1])
    fields = [dict(field.split(": ", 1) for field in bar["aria-label"].split("; ")) for bar in bars]
    columns = [named["column"] for named in fields]
    return list(dict.fromkeys(columns))


def path_points(mark: dict[str, str]) -> list[tuple[float, float]]:
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", mark["d"])]
    return list(zip(numbers[::2], numbers[1::2], strict=False))


def by_importance(path: Path) -> list[str]:
    rows = read_csv(path)
    return [row["column"] for row in sorted(rows, key=lambda row: -float(row["importance"]))]


def revisions(marks: list[dict[str, str]]) -> set[str]:
    found = (re.search(r"revision: ([\w-]+)", mark.get("aria-label", "")) for mark in marks)
    return {match.group(1) for match in found if match}


def shown(project: Project, *args: str) -> Path:
    out = project.root.parent / f"page-{len(list(project.root.parent.glob('page-*')))}"
    project.dvc("plots", *args, "-o", str(out))
    return out / "index.html"


def test_every_view_draws_its_marks_in_a_real_browser(project, browser, tmp_path):
    views = draw(browser, shown(project, "show"), tmp_path / "profile")
    classification = ("history", "confusion", "roc", "precision_recall", "calibration", "importance")
    for name in classification:
        assert views[f"metrics_{name}_csv"], f"{name} drew nothing"
    assert not views["metrics_predicted_actual_csv"] and not views["metrics_residuals_csv"]
    assert len(kind(views["metrics_history_csv"], "line mark")) == 4  # train, val x loss, accuracy
    assert len(kind(views["metrics_confusion_csv"], "text mark")) == 9
    for name in ("roc", "precision_recall"):
        assert len(kind(views[f"metrics_{name}_csv"], "line mark")) == 3  # one curve per class

    # reliability: one visible point per bin of the CSV, above the full diagonal
    calibration = views["metrics_calibration_csv"]
    bins = read_csv(project.path("metrics/calibration.csv"))
    points = kind(calibration, "circle")
    assert len(points) == len(bins)
    for point in points:
        radius = abs(path_points(point)[0][0])
        assert radius >= 3, f"a point {radius:.1f} px wide is not seen"
    diagonal = [m for m in kind(calibration, "line mark") if "grey" in m.get("stroke", "")]
    assert path_points(diagonal[0]) == [(0, 300), (360, 0)]  # corner to corner of 360 x 300

    importance = views["metrics_importance_csv"]
    assert len(kind(importance, "bar")) == 4
    assert bars_top_to_bottom(importance) == by_importance(project.path("metrics/importance.csv"))

    # the same views for a regression
    project.git("checkout", "-q", "-b", "diabetes")
    project.set_param("prepare", "source", "diabetes")
    project.set_param("prepare", "task", "regression")
    project.repro()
    project.git("commit", "-qam", "diabetes")
    views = draw(browser, shown(project, "show"), tmp_path / "profile")
    for name in ("history", "predicted_actual", "residuals", "importance"):
        assert views[f"metrics_{name}_csv"], f"{name} drew nothing"
    test_rows = len(read_csv(project.path("metrics/predicted_actual.csv")))
    scatter = views["metrics_predicted_actual_csv"]
    assert len(kind(scatter, "point")) == test_rows == 44
    assert len(kind(views["metrics_residuals_csv"], "point")) == test_rows
    (reference,) = [m for m in kind(scatter, "line mark") if "grey" in m.get("stroke", "")]
    (x0, y0), (x1, y1) = path_points(reference)
    # y = x from the smallest to the largest value shown: across the plot (360 x 320), not a stub
    assert x1 - x0 >= 0.8 * 360 and y0 - y1 >= 0.8 * 320, reference["d"]
    assert len(kind(views["metrics_importance_csv"], "bar")) == 10
    assert bars_top_to_bottom(views["metrics_importance_csv"]) == by_importance(
        project.path("metrics/importance.csv")
    )

    # two revisions of one task, overlaid: every view draws both
    project.git("checkout", "-q", "-b", "deeper")
    project.set_param("train", "hidden", "[32, 32, 32]")
    project.repro()
    project.git("commit", "-qam", "deeper")
    views = draw(browser, shown(project, "diff", "diabetes", "deeper"), tmp_path / "profile")
    for name in ("predicted_actual", "residuals", "importance"):
        assert revisions(views[f"metrics_{name}_csv"]) == {"diabetes", "deeper"}, name
    assert len(kind(views["metrics_predicted_actual_csv"], "point")) == 2 * test_rows
    assert len(kind(views["metrics_importance_csv"], "bar")) == 20
