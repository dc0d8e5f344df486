"""The four report pages in a real browser (Debian's Chromium), on the demo's seeded data.

`marketbrief demo` seeds a SQLite file with two weeks of sample runs (the real pipeline over
the sample's `dir:` files), `marketbrief serve` serves it, and each page is checked for what a
trader reads on it, at 1280 px and at 390 px (a phone: no sideways scrolling). Screenshots of
each page at both widths go to test-artifacts/screenshots/ (copies are kept in
docs/screenshots/).
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.web.test_browser import (
    ARTIFACTS,
    MARKETBRIEF,
    TIMEOUT_MS,
    _free_port,
    _wait_until_healthy,
    require_browser,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

SHOTS = ARTIFACTS / "screenshots"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


@dataclass(frozen=True)
class Demo:
    url: str
    dates: dict[str, str]  # report type -> the newest date with a successful run


def _json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
        return json.loads(response.read())


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    require_browser()
    root = tmp_path_factory.mktemp("demo-pages")
    env = {
        **os.environ,
        "MARKETBRIEF_DATABASE_URL": f"sqlite:///{root / 'demo.db'}",
        "MARKETBRIEF_OUTBOX_DIR": str(root / "outbox"),
        "MARKETBRIEF_SCHEDULER": "off",
    }
    seeded = subprocess.run(
        [str(MARKETBRIEF), "demo", "--files", str(root / "files")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = root / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(MARKETBRIEF), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_healthy(url, server, log)
        dates = {}
        for kind in ("pre-market", "intraday", "end-of-day", "weekly"):
            page = _json(f"{url}/api/v1/jobs/history?type={kind}&status=success&limit=1")
            assert page["jobs"], f"the demo made no successful {kind} run"
            dates[kind] = page["jobs"][0]["scheduled_date"]
        yield Demo(url, dates)
    finally:
        server.terminate()
        server.wait(timeout=15)


def _page(browser: Browser, width: str) -> Page:
    w, h = WIDTHS[width]
    context = browser.new_context(viewport={"width": w, "height": h})
    context.set_default_timeout(TIMEOUT_MS)
    return context.new_page()


def _visit(browser: Browser, demo: Demo, kind: str, name: str) -> dict[str, Page]:
    """The report page at both widths, checked for sideways scrolling and photographed."""
    pages = {}
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page = _page(browser, width)
        response = page.goto(f"{demo.url}/reports/{kind}?date={demo.dates[kind]}")
        assert response is not None
        assert response.status == 200
        scroll = page.evaluate("document.scrollingElement.scrollWidth")
        assert scroll <= WIDTHS[width][0], f"{kind} at {width}: {scroll} px wide"
        page.screenshot(path=str(SHOTS / f"{name}-{WIDTHS[width][0]}.png"))
        pages[width] = page
    return pages


def _common(page: Page, demo: Demo, kind: str) -> None:
    """Every page: its state and business date visible, links to the sessions around it."""
    assert page.locator(".status-line .state-pill").inner_text().strip() == "fresh"
    assert demo.dates[kind] in page.locator(".status-line").inner_text()
    assert page.locator("a[rel=prev]").count() == 1
    assert page.locator("a[rel=next]").count() == 1
    assert page.locator("input[type=date][name=date]").input_value() == demo.dates[kind]


def test_pre_market_shows_each_call_its_headlines_and_the_pulse(
    browser: Browser, demo: Demo
) -> None:
    pages = _visit(browser, demo, "pre-market", "pre-market")
    page = pages["desktop"]
    _common(page, demo, "pre-market")
    assert "SPY" in page.locator("h2", has_text="Market pulse").inner_text()
    assert "confidence" in page.locator("p.pulse").inner_text()
    rows = page.locator("table.symbols tbody tr")
    assert rows.count() >= 5
    first = rows.first
    assert first.locator("td[data-label=confidence]").inner_text().strip() != "—"
    headline = first.locator("ul.headlines li").first
    assert "demo sample" in headline.inner_text()  # the source, beside the title and time
    assert " ET" in headline.inner_text()
    # High-confidence calls come first: once a row is not high, no later row is.
    flags = [("high" in (r.get_attribute("class") or "")) for r in rows.all()]
    assert flags == sorted(flags, reverse=True)
    phone = pages["phone"]
    assert phone.locator("table.symbols thead").is_hidden()  # rows become cards


def test_intraday_shows_the_morning_call_beside_the_news_since(
    browser: Browser, demo: Demo
) -> None:
    page = _visit(browser, demo, "intraday", "intraday")["desktop"]
    _common(page, demo, "intraday")
    assert page.locator("h2", has_text="Calls changed").count() == 1
    row = page.locator("table.symbols tbody tr").first
    assert row.locator("td[data-label=morning]").inner_text().strip() != "—"
    assert row.locator("td[data-label=verdict]").inner_text().strip()


def test_end_of_day_scores_each_call_against_the_close_as_k_of_n(
    browser: Browser, demo: Demo
) -> None:
    page = _visit(browser, demo, "end-of-day", "end-of-day")["desktop"]
    _common(page, demo, "end-of-day")
    every = page.locator("dd.k-of-n.all").inner_text()
    assert " of " in every, every
    assert "%" in every, every
    assert " of " in page.locator("dd.k-of-n.high").inner_text()
    results = {
        r.strip().split()[0] for r in page.locator("td[data-label=result]").all_inner_texts()
    }
    assert results <= {"right", "wrong", "unscored"}
    assert results & {"right", "wrong"}
    close = page.locator("td[data-label=close]").first.inner_text().strip()
    assert close.replace(",", "").replace(".", "", 1).isdigit()
    assert close[-3] == "."
    change = page.locator("td[data-label=change]").first.inner_text().strip()
    assert change[0] in "+-"
    assert change.endswith("%")
    assert "close" in page.locator("p.pulse").inner_text()
    assert page.locator("ul.movers li").count() >= 1


def test_weekly_shows_each_session_and_symbol_as_k_of_n(browser: Browser, demo: Demo) -> None:
    page = _visit(browser, demo, "weekly", "weekly")["desktop"]
    _common(page, demo, "weekly")
    assert " of " in page.locator("dd.k-of-n.all").inner_text()
    sessions = page.locator("table.sessions tbody tr")
    assert 1 <= sessions.count() <= 5
    symbols = page.locator("table.symbols.cards-narrow tbody tr")
    assert symbols.count() >= 5
    ret = symbols.first.locator('td[data-label="week\'s return"]').inner_text().strip()
    assert ret[0] in "+-"
    assert ret.endswith("%")
    trend = page.locator("dl.hit-rate dd").nth(3).inner_text()
    assert "measured session" in trend


def test_the_accuracy_chart_is_dated_with_n_beside_each_point(browser: Browser, demo: Demo) -> None:
    page = _page(browser, "desktop")
    page.goto(demo.url + "/")
    chart = page.locator("svg.chart")
    assert chart.locator("circle.dot").count() >= 5
    assert chart.locator("text.label.n").count() == chart.locator("circle.dot").count()
    assert chart.locator("text.label.date").count() >= 2
    page.screenshot(path=str(SHOTS / "dashboard-1280.png"))
    assert Path(SHOTS / "dashboard-1280.png").stat().st_size > 0
