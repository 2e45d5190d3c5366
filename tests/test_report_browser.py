"""The report as a reader first sees it: the CI config's report, written by
`snakemake --report`, rendered in real headless Chromium in a 1366x768 window. The title
and the verdict must sit in the first screen, and every section link must open its
section (tests/report_browser.py measures the page)."""

import pytest
from conftest import explain, snakemake
from report_browser import find_browser, measure
from srstudy.report.front_page import TITLE

BROWSER = find_browser()
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no Chromium or Chrome installed (.ci/run installs Debian's chromium)"
)


@pytest.fixture(scope="module")
def rendered(e2e, tmp_path_factory):
    workdir, _, first = e2e
    assert first.returncode == 0, explain(first)
    report = workdir / "results/report_from_cli.html"
    result = snakemake(workdir, "--report", str(report))
    assert result.returncode == 0, explain(result)
    return measure(report, BROWSER, tmp_path_factory.mktemp("browser"))


def inside(box: dict, viewport: dict) -> bool:
    return (
        box["top"] >= 0
        and box["left"] >= 0
        and box["bottom"] <= viewport["height"]
        and box["right"] <= viewport["width"]
    )


def test_the_title_and_the_verdict_are_in_the_first_screen(rendered):
    assert rendered["loading"] == "none", "the report never finished loading"
    assert rendered["title_text"] == TITLE
    viewport = rendered["viewport"]
    assert viewport["width"] == 1366 and viewport["height"] <= 768
    assert inside(rendered["title"], viewport), (rendered["title"], viewport)
    assert inside(rendered["verdict"], viewport), (rendered["verdict"], viewport)
    text = " ".join(rendered["verdict_text"].split())
    for part in ("of 4 converged", "study (in-sample-like)", "bikes (generalisation)", "May be concluded", "May not"):
        assert part in text, (part, text)


def test_every_section_link_opens_its_section(rendered):
    links = rendered["links"]
    assert {link["name"] for link in links} >= set(rendered["categories"]), "a section without a link"
    for link in links:
        assert link["category"] == link["name"] and link["shown"] and not link["errors"], link
    assert not rendered["errors"]
