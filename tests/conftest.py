"""The fixtures every test may ask for, each defined once in tests/support/ and registered here.

- backends: sqlite_url, pg_url, database_url, redis_url, redis_prefix
- api_fixtures: the web app under test on either mode (api_settings, clock, make_api, api)
- loopback: a loopback HTTP server with canned answers (loopback)
"""

from __future__ import annotations

pytest_plugins = [
    "tests.support.backends",
    "tests.support.api_fixtures",
    "tests.support.loopback",
]
