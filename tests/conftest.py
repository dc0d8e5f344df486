"""The fixtures every test may ask for, each defined once in tests/support/ and registered here.

- backends: sqlite_url, pg_url, database_url, store_url (the three store engines), redis_url,
  redis_prefix
- local_d1: a real local D1 (miniflare) behind the REST API's shape (local_d1, d1_url)
- clock: a settable clock at LATE, when every slot of DAY has passed (clock)
- api_fixtures: the web app under test on either mode (api_settings, make_api, api)
- results_fixtures: Results on either mode (embedded_settings, scaled_settings, settings,
  make_results), for the results concurrency tests
- loopback: a loopback HTTP server with canned answers (loopback)
- receivers: notification receivers on loopback, a webhook and an SMTP server (webhook, smtp)

A test module's own fixture of the same name (tests/results/test_results.py's `settings`,
tests/cache/test_cache.py's `clock`, ...) takes precedence in that module.
"""

from __future__ import annotations

pytest_plugins = [
    "tests.support.backends",
    "tests.support.local_d1",
    "tests.support.clock",
    "tests.support.api_fixtures",
    "tests.support.results_fixtures",
    "tests.support.loopback",
    "tests.support.receivers",
]
