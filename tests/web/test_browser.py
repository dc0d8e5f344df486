"""The dashboard in a real browser: Debian's Chromium, driven by Playwright, against the server.

The server runs as `marketbrief serve` in a subprocess over a SQLite file seeded beforehand:
real runs (`marketbrief run` over local news and price files) for two past sessions, one
completion published through `Results`, and one claimed run whose errors, warnings and
prediction error carry HTML that must show as text and run nothing.

Playwright never downloads a browser here: it launches /usr/bin/chromium. Without that binary
or the `playwright` package the tests skip with the reason, and fail instead when CI is set.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from marketbrief.calendar import MarketCalendar, business_date, utc_now
from marketbrief.cli.main import main
from marketbrief.config import Settings
from marketbrief.models import (
    Direction,
    Prediction,
    PredictionStatus,
    ReportType,
    RunStatus,
    TriggerSource,
)
from marketbrief.results import Results
from marketbrief.store.sql import SQLStore
from tests.support.factories import completion_for, standalone_completion
from tests.support.paths import ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"
MARKETBRIEF = Path(sys.executable).parent / "marketbrief"
TYPES = [t.value for t in ReportType]
SYMBOLS = ("AAPL", "MSFT", "NVDA", "TSLA")
NAMES = {"AAPL": "Apple", "MSFT": "Microsoft", "NVDA": "Nvidia", "TSLA": "Tesla", "SPY": "S&P 500"}
BULLISH = "{name} shares surge to a record high after blowout earnings beat estimates"
BEARISH = "{name} stock plunges after weak guidance and falling sales"
MIDDAY = "{name} steady in midday trading, strong gains hold"

XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_IMG = '<img src=x onerror="window.__xss=2">'
XSS_ALERT = "<img src=x onerror=\"alert('xss')\">"
STARTUP_SECONDS = 30
TIMEOUT_MS = 10_000


def require_browser() -> None:
    """Skip (locally) or fail (in CI) when Chromium or Playwright is missing."""
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} is not installed (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package is not installed (pip install -e '.[dev]')")
    if not missing:
        return
    reason = "; ".join(missing)
    if os.environ.get("CI"):
        pytest.fail(f"{reason}, and CI requires it", pytrace=False)
    pytest.skip(reason)


@dataclasses.dataclass(frozen=True)
class Site:
    """The running server and the facts its data was seeded with."""

    url: str
    sessions: tuple[date, date]  # two past sessions with real runs of the three daily reports
    stale_day: date  # the session after them: no pre-market report of its own
    pending_day: date  # the next session after today
    xss_run_id: str
    xss_day: date  # the Sunday of the weekly run that failed with HTML in its fields


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _at(day: date, clock: str) -> str:
    return f"{day.isoformat()}T{clock}+00:00"


def _write_feeds(root: Path, days: list[date], closes_from: date) -> tuple[Path, Path]:
    """News before each day's pre-market and intraday slots; closes for every session."""
    news, prices = root / "news", root / "prices"
    news.mkdir()
    prices.mkdir()
    for i, symbol in enumerate((*SYMBOLS, "SPY")):
        name = NAMES[symbol]
        mood = BULLISH if i % 2 == 0 else BEARISH
        items: list[dict[str, Any]] = []
        for day in days:
            items.append({"title": mood.format(name=name), "published_at": _at(day, "11:00:00")})
            items.append({"title": MIDDAY.format(name=name), "published_at": _at(day, "15:00:00")})
        (news / f"{symbol}.json").write_text(json.dumps(items))
        lines = ["Date,Open,High,Low,Close,Volume"]
        for n, day in enumerate([closes_from, *days]):
            close = 100.0 + n * (1 if i % 3 else -1)
            lines.append(f"{day.isoformat()},{close},{close},{close},{close},1000")
        (prices / f"{symbol}.csv").write_text("\n".join(lines) + "\n")
    return news, prices


def _seed_xss_run(database_url: str, sunday: date) -> str:
    """A claimed weekly run that failed with HTML in its errors, warnings and predictions."""
    store = SQLStore(database_url)
    try:
        claim = store.claim_run(ReportType.WEEKLY, sunday, TriggerSource.MANUAL)
        assert claim.claimed
        hostile = Prediction(
            symbol="AAPL",
            direction=Direction.NEUTRAL,
            confidence=None,
            sentiment_score=None,
            articles_count=0,
            model="vader",
            status=PredictionStatus.FAILED,
            error=XSS_IMG,
            headlines=[XSS_SCRIPT],
        )
        completion = dataclasses.replace(
            completion_for(claim.run, status=RunStatus.FAILED, content=None, preds=(hostile,)),
            errors=({"stage": "analysis", "message": XSS_SCRIPT}, XSS_ALERT),
            warnings=(XSS_IMG,),
        )
        store.finish_run(completion)
        return claim.run.run_id
    finally:
        store.close()


def _publish(settings: Settings, report_type: ReportType, day: date) -> None:
    """One completion through the results core, the way the runner would publish it."""

    async def publish() -> None:
        results = Results.open(settings)
        try:
            await results.publish(standalone_completion(report_type, day, marker="seeded"))
        finally:
            await results.close()

    asyncio.run(publish())


def _wait_until_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    pytest.fail(f"the server did not answer /healthz in {STARTUP_SECONDS} s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Migrate and seed a SQLite store, then serve it with `marketbrief serve`."""
    require_browser()
    root = tmp_path_factory.mktemp("browser")
    calendar = MarketCalendar()
    now = utc_now()
    today = business_date(now)
    # The newest session whose pre-market slot (plus the pending grace) is surely over.
    latest = calendar.session_on_or_before(today)
    slot = calendar.slot_instant(ReportType.PRE_MARKET, latest)
    if slot is None or now < slot + timedelta(minutes=40):
        latest = calendar.previous_session(latest)
    stale_day = latest
    second = calendar.previous_session(stale_day)
    first = calendar.previous_session(second)
    sunday = first - timedelta(days=(first.weekday() + 1) % 7)
    while not calendar.has_slot(ReportType.WEEKLY, sunday):
        sunday -= timedelta(weeks=1)

    database_url = f"sqlite:///{root / 'marketbrief.db'}"
    news, prices = _write_feeds(root, [first, second], calendar.previous_session(first))
    env = {
        "MARKETBRIEF_DATABASE_URL": database_url,
        "MARKETBRIEF_OUTBOX_DIR": str(root / "outbox"),
        "MARKETBRIEF_SYMBOLS": ",".join(SYMBOLS),
        "MARKETBRIEF_NEWS": f"dir:{news}",
        "MARKETBRIEF_PRICES": f"dir:{prices}",
        "MARKETBRIEF_SCHEDULER": "off",
        "MARKETBRIEF_HIGH_CONFIDENCE": "0.05",  # score every call, so the trend has points
    }
    migrated = subprocess.run(
        [str(MARKETBRIEF), "migrate"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert migrated.returncode == 0, migrated.stderr

    cli = CliRunner()
    for day in (first, second):
        for kind in ("pre-market", "intraday", "end-of-day"):
            ran = cli.invoke(main, ["run", kind, "--date", day.isoformat()], env=env)
            assert ran.exit_code == 0, ran.output
    settings = Settings.from_env(env)
    today_eod = calendar.default_report_date(ReportType.END_OF_DAY, now)
    _publish(settings, ReportType.END_OF_DAY, today_eod)
    xss_run_id = _seed_xss_run(database_url, sunday)

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = root / "server.log"
    command = [str(MARKETBRIEF), "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*command, "--no-scheduler"],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_healthy(url, server, log)
        yield Site(
            url=url,
            sessions=(first, second),
            stale_day=stale_day,
            pending_day=calendar.next_session(today),
            xss_run_id=xss_run_id,
            xss_day=sunday,
        )
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, with nothing phoning home."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


def _context(browser: Browser, *, javascript: bool = True) -> BrowserContext:
    """A fresh context (its own profile state: no cookies, cache or storage carried over)."""
    context = browser.new_context(
        java_script_enabled=javascript, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = _context(browser)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def no_js_page(browser: Browser) -> Iterator[Page]:
    context = _context(browser, javascript=False)
    try:
        yield context.new_page()
    finally:
        context.close()


def _open(page: Page, url: str, status: int = 200) -> None:
    response = page.goto(url)
    assert response is not None
    assert response.status == status, f"{url}: {response.status}"


def _cards(page: Page) -> list[tuple[str, str]]:
    cards = page.locator(".cards a.card")
    return [
        (card.locator("h2").inner_text().strip(), card.locator(".state").inner_text().strip())
        for card in cards.all()
    ]


def _open_history_run(page: Page, kind: str, day: date) -> None:
    """Click the run link of the history row of `kind` for `day`, then land on its page."""
    row = page.locator("tr.job-row", has_text=kind).filter(has_text=day.isoformat()).first
    link = row.locator("a.run-link")
    run_id = link.inner_text().strip()
    link.click()
    page.wait_for_url(f"**/jobs/{run_id}")
    assert page.locator(".field-run_id").inner_text().strip() == run_id


def _assert_stages(page: Page) -> None:
    stages = page.locator("ol.timeline li")
    texts = [text.lower() for text in stages.all_inner_texts()]
    for stage in ("init", "data_fetch", "analysis", "storage", "finalize"):
        assert any(stage in text for text in texts), (stage, texts)
    assert page.locator("ol.timeline .pill.success").count() >= 4


def test_the_front_page_shows_the_four_moments_and_the_history(site: Site, page: Page) -> None:
    _open(page, f"{site.url}/")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    cards = _cards(page)
    assert [name for name, _ in cards] == TYPES
    assert all(state for _, state in cards)
    assert dict(cards)["end-of-day"].lower() == "fresh"
    assert page.locator("tr.job-row").count() >= 7
    assert page.locator("svg.chart circle.dot").count() == len(site.sessions)


def test_a_history_row_leads_to_the_run_details_with_its_stages(site: Site, page: Page) -> None:
    _open(page, f"{site.url}/")
    _open_history_run(page, "pre-market", site.sessions[1])
    assert page.locator("h1").inner_text().startswith("Job ")
    assert "pre-market" in page.locator("h1").inner_text()
    _assert_stages(page)
    assert page.locator("table.symbols tbody tr").count() >= len(SYMBOLS)


def test_a_day_without_its_report_shows_the_earlier_one_under_a_stale_banner(
    site: Site, page: Page
) -> None:
    _open(page, f"{site.url}/reports/pre-market?date={site.stale_day.isoformat()}")
    banner = page.locator(".banner.stale")
    assert banner.is_visible()
    assert site.sessions[1].isoformat() in banner.inner_text()
    assert site.stale_day.isoformat() in banner.inner_text()
    assert page.locator("table.symbols tbody tr").count() == len(SYMBOLS)


def test_a_future_session_shows_a_pending_banner(site: Site, page: Page) -> None:
    _open(page, f"{site.url}/reports/pre-market?date={site.pending_day.isoformat()}")
    banner = page.locator(".banner.pending")
    assert banner.is_visible()
    assert "scheduled for" in banner.inner_text()
    assert page.locator("table.symbols").count() == 0


def _assert_inert(page: Page, dialogs: list[str]) -> None:
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)  # let any (wrongly) injected onerror handler fire
    assert page.evaluate("() => typeof window.__xss") == "undefined"
    assert dialogs == []
    assert page.locator("main script").count() == 0
    assert page.locator("main img").count() == 0


def test_html_in_job_fields_shows_as_text_and_runs_nothing(site: Site, page: Page) -> None:
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    _open(page, f"{site.url}/jobs/{site.xss_run_id}")
    errors = page.locator("ul.errors").inner_text()
    assert XSS_SCRIPT in errors
    assert "onerror=" in errors
    assert "onerror=" in page.locator("ul.warnings").inner_text()
    assert XSS_IMG in page.locator("table.symbols").inner_text()
    _assert_inert(page, dialogs)

    # The failed weekly report shows the same errors under its banner, as text too.
    _open(page, f"{site.url}/reports/weekly?date={site.xss_day.isoformat()}", status=404)
    assert page.locator(".banner.failed").is_visible()
    assert XSS_SCRIPT in page.locator("ul.errors").inner_text()
    _assert_inert(page, dialogs)

    # Control: the same markup, when it really is markup, does run in this browser.
    page.goto("about:blank")
    page.set_content(f"<body>{XSS_IMG}</body>")
    page.wait_for_function("() => window.__xss === 2")


def test_the_pages_work_without_javascript(site: Site, page: Page, no_js_page: Page) -> None:
    _open(page, f"{site.url}/")
    _open(no_js_page, f"{site.url}/")
    assert _cards(no_js_page) == _cards(page)
    assert no_js_page.locator("tr.job-row").count() == page.locator("tr.job-row").count()

    _open_history_run(no_js_page, "end-of-day", site.sessions[0])
    _assert_stages(no_js_page)

    _open(no_js_page, f"{site.url}/reports/pre-market?date={site.stale_day.isoformat()}")
    assert no_js_page.locator(".banner.stale").is_visible()
    _open(no_js_page, f"{site.url}/jobs/{site.xss_run_id}")
    assert XSS_SCRIPT in no_js_page.locator("ul.errors").inner_text()
