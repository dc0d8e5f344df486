"""Fixtures the web tests share: the one headless Chromium (see test_browser.py)."""

from tests.web.test_browser import browser  # noqa: F401 - a fixture, found by pytest by name
