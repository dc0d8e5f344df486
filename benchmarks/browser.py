"""The dashboard in headless Debian Chromium (Playwright): time to DOMContentLoaded.

Playwright never downloads a browser here: it launches /usr/bin/chromium. Each load is a fresh
page in one browser context; the time is the Navigation Timing `domContentLoadedEventEnd` of
that navigation (from its start), with time to first byte beside it. Several pages are loaded
in turn (A B A B ...), so a page and its reference meet the same noise. Run it as its own
process pinned to the load core (Chromium's processes inherit the pinning):
`taskset -c 1 python -m benchmarks.browser URL [URL ...] --loads 10`; it prints a JSON list.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

from harness import ROOT

from benchmarks import LOAD_CORE
from benchmarks.servers import pinned

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
_TIMING = """() => {
  const n = performance.getEntriesByType('navigation')[0];
  return {
    dcl: n.domContentLoadedEventEnd - n.startTime,
    ttfb: n.responseStart - n.startTime,
    load: n.loadEventEnd - n.startTime,
    bytes: n.transferSize || n.encodedBodySize || 0,
  };
}"""


@dataclass(slots=True)
class DashboardResult:
    """Per-load timings in milliseconds (the first load is reported apart, as cold)."""

    loads: int
    dcl_ms: list[float] = field(default_factory=list)
    ttfb_ms: list[float] = field(default_factory=list)
    load_ms: list[float] = field(default_factory=list)
    html_bytes: int = 0
    rows: int = 0
    chromium: str = ""

    @property
    def warm_dcl_ms(self) -> list[float]:
        """DOMContentLoaded of every load but the first."""
        return self.dcl_ms[1:] or self.dcl_ms

    @property
    def median_dcl_ms(self) -> float:
        """The median DOMContentLoaded of the warm loads."""
        return median(self.warm_dcl_ms)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def missing() -> str | None:
    """Why the browser benchmark cannot run here, or None when it can."""
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is not installed (apt-get install -y chromium)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


def measure(urls: list[str], loads: int) -> list[DashboardResult]:
    """Load each of `urls` `loads` times, alternating, each in a new page; read its timing."""
    from playwright.sync_api import sync_playwright

    results = [DashboardResult(loads=loads) for _ in urls]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            for _ in range(loads):
                for url, result in zip(urls, results, strict=True):
                    result.chromium = browser.version
                    _load(context, url, result)
            context.close()
        finally:
            browser.close()
    return results


def _load(context: Any, url: str, result: DashboardResult) -> None:
    page = context.new_page()
    response = page.goto(url, wait_until="load", timeout=60_000)
    if response is None or response.status != 200:
        status = None if response is None else response.status
        raise RuntimeError(f"{url} answered {status}")
    timing = page.evaluate(_TIMING)
    result.dcl_ms.append(round(float(timing["dcl"]), 2))
    result.ttfb_ms.append(round(float(timing["ttfb"]), 2))
    result.load_ms.append(round(float(timing["load"]), 2))
    result.html_bytes = len(page.content().encode())
    result.rows = page.locator("table tr").count()
    page.close()


def run_measure(urls: list[str], loads: int) -> list[DashboardResult]:
    """`measure` in its own process pinned to the load core."""
    done = subprocess.run(
        pinned(
            LOAD_CORE, [sys.executable, "-m", "benchmarks.browser", *urls, "--loads", str(loads)]
        ),
        capture_output=True,
        text=True,
        timeout=60 + 30 * loads * len(urls),
        check=False,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"browser benchmark failed: {done.stderr[-2000:]}")
    return [DashboardResult(**raw) for raw in json.loads(done.stdout)]


def main(argv: list[str] | None = None) -> None:
    """CLI: prints one JSON object."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.browser")
    parser.add_argument("urls", nargs="+", help="pages loaded in turn, one each per round")
    parser.add_argument("--loads", type=int, default=10)
    args = parser.parse_args(argv)
    print(json.dumps([r.as_dict() for r in measure(args.urls, args.loads)]))


if __name__ == "__main__":
    main()
