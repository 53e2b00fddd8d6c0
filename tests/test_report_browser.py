"""report.html in headless Chromium: it renders every chart, asks the network for nothing, and prints.

The pages are what `xsell report` writes for sample_data and for ravenstack (ARR mode, a
real dataset). Chromium is Debian's (/usr/bin/chromium, or $XSELL_CHROMIUM), driven
through Playwright with ``executable_path``; Playwright's own browser download is never
used. A missing Chromium FAILS the test, with the install line: the README's test command
(and so CI) installs it, and a browser check that quietly skips is no check. The one skip is
when that command found it cannot install one here and wrote why to tests/output/no-browser.txt
(.ci/system-packages: not root and no password-less sudo, no apt, no `chromium` package). It leaves a
full-page screenshot and a PDF per book under tests/output/ for a person to look at.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Request, Route, sync_playwright

from crossell_cli.report.html import SECTIONS

from .conftest import REPO, SAMPLE, invoke, realdata

OUTPUT = Path(__file__).resolve().parent / "output"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
EXPECTED_CHARTS = {
    "sample": {
        "attach-heatmap",
        "expansion-bridge",
        "expansion-arr",
        "timing-km",
        "retention-bars",
        "whitespace-by-family",
        "flags-counts",
        "flags-reps",
    },
    "ravenstack": {"expansion-bridge", "expansion-arr", "timing-km", "retention-bars"},
}
# The book's `xsell report` arguments (run from the repository root).
BOOKS = {
    "sample": ["--data", str(SAMPLE), "--curves-by", "land_family"],
    "ravenstack": ["-c", "examples/ravenstack/xsell.yaml", "--curves-by", "cohort"],
}


def write_page(name: str) -> Path:
    """tests/output/report-NAME.html, as `xsell report` writes it."""
    if name == "ravenstack":
        realdata("ravenstack")
    OUTPUT.mkdir(exist_ok=True)
    path = OUTPUT / f"report-{name}.html"
    result = invoke(["report", *BOOKS[name], "-o", str(path)], env={"XSELL_CONFIG": ""}, cwd=REPO)
    assert result.exit_code == 0, result.output
    return path


def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("XSELL_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


CHROMIUM = chromium_path()
NO_BROWSER = OUTPUT / "no-browser.txt"  # written by .ci/system-packages when it cannot install one
MISSING = (
    "no Chromium binary: install Debian's (apt-get update && apt-get install -y chromium, as the README's "
    "test command does) or point XSELL_CHROMIUM at a Chromium or Chrome binary"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        if NO_BROWSER.is_file():
            pytest.skip(f"no Chromium, and the test command could not install one: {NO_BROWSER.read_text().strip()}")
        pytest.fail(MISSING)  # a skip only when installing was impossible: a report nobody opened is not tested
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


class Opened:
    """A page loaded from file:// with every other request refused and recorded."""

    def __init__(self, browser: Browser, path: Path) -> None:
        self.path = path
        self.url = self.path.as_uri()
        # The network is off as well as every request refused: a page that needs it shows it.
        self.context = browser.new_context(viewport={"width": 1200, "height": 900}, offline=True)
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page: Page = self.context.new_page()
        self.page.on("request", self._request)
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(self.url, wait_until="load")

    def _request(self, request: Request) -> None:
        if request.url != self.url:
            self.requests.append(request.url)

    def _route(self, route: Route) -> None:
        if route.request.url == self.url:
            route.continue_()
        else:
            route.abort()


@pytest.fixture(scope="module", params=sorted(BOOKS))
def opened(request: pytest.FixtureRequest, browser: Browser) -> Iterator[tuple[str, Opened]]:
    name = str(request.param)
    page = Opened(browser, write_page(name))
    yield name, page
    page.context.close()


def test_no_console_errors_and_no_network(opened: tuple[str, Opened]) -> None:
    _, page = opened
    page.page.wait_for_timeout(200)  # anything lazy would have fired by now
    assert page.requests == []
    assert page.errors == []
    entries = page.page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
    assert entries == []


def test_every_section_is_there_with_its_heading(opened: tuple[str, Opened]) -> None:
    _, page = opened
    for key, title in SECTIONS:
        heading = page.page.locator(f"section#{key} > h2")
        assert heading.count() == 1, key
        assert heading.inner_text() == title
        assert heading.is_visible()
        body = page.page.locator(f"section#{key}").inner_text()
        assert len(body) > len(title) + 20, key  # a chart, a table or a sentence saying why not


def test_every_chart_rendered_a_non_empty_svg(opened: tuple[str, Opened]) -> None:
    name, page = opened
    charts = page.page.evaluate(
        """() => [...document.querySelectorAll('figure.chart svg[data-chart]')].map(svg => {
            const box = svg.getBoundingClientRect();
            const marks = [...svg.querySelectorAll('rect.bar, rect.cell, path.curve, path.line, circle.point')];
            const drawn = marks.filter(m => { const b = m.getBBox(); return b.width > 0 || b.height > 0; });
            return {id: svg.dataset.chart, width: box.width, height: box.height, marks: drawn.length,
                    titled: svg.querySelector(':scope > title')?.textContent.length > 0,
                    axisLabels: svg.querySelectorAll('.axis-label, .column-label, .row-label, .label').length};
        })"""
    )
    assert {c["id"] for c in charts} == EXPECTED_CHARTS[name]
    for chart in charts:
        assert chart["width"] > 300 and chart["height"] > 150, chart
        assert chart["marks"] > 0, chart
        assert chart["titled"], chart
        assert chart["axisLabels"] > 0, chart
    kpis = page.page.locator("div.kpi svg[data-chart]")
    assert kpis.count() == 5
    for index in range(kpis.count()):
        box = kpis.nth(index).bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 10


def test_every_mark_has_a_hover_text(opened: tuple[str, Opened]) -> None:
    _, page = opened
    untitled = page.page.evaluate(
        """() => [...document.querySelectorAll('rect.bar, rect.cell, circle.point')]
                 .filter(m => !m.querySelector('title')?.textContent).length"""
    )
    assert untitled == 0


def test_prints_one_section_per_page_and_saves_the_pictures(opened: tuple[str, Opened]) -> None:
    name, page = opened
    page.page.screenshot(path=str(OUTPUT / f"report-{name}.png"), full_page=True)
    page.page.emulate_media(media="print")
    breaks = page.page.evaluate("[...document.querySelectorAll('section')].map(s => getComputedStyle(s).breakBefore)")
    assert breaks == ["auto"] + ["page"] * (len(SECTIONS) - 1)  # the KPIs share the title page
    assert page.page.locator("nav").is_hidden()
    pdf = page.page.pdf(path=str(OUTPUT / f"report-{name}.pdf"), format="A4", landscape=True, print_background=True)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages >= len(SECTIONS)
    page.page.emulate_media(media="screen")
    assert (OUTPUT / f"report-{name}.png").stat().st_size > 50_000
