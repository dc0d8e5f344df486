"""Settings: the timeout and breaker variables parse, default, and name themselves when bad."""

from __future__ import annotations

import pytest

from marketbrief.config import D1_API_URL, D1_REVISION_CHECK_SECONDS, Settings
from marketbrief.errors import ConfigError

TIMEOUTS = {
    "STORE_CONNECT_TIMEOUT_SECONDS": "store_connect_timeout_seconds",
    "STORE_STATEMENT_TIMEOUT_SECONDS": "store_statement_timeout_seconds",
    "STORE_POOL_TIMEOUT_SECONDS": "store_pool_timeout_seconds",
    "STORE_READ_TIMEOUT_SECONDS": "store_read_timeout_seconds",
    "STORE_BREAKER_SECONDS": "store_breaker_seconds",
    "CACHE_TIMEOUT_SECONDS": "cache_timeout_seconds",
    "CACHE_BREAKER_SECONDS": "cache_breaker_seconds",
}


def test_every_timeout_has_a_positive_default() -> None:
    settings = Settings.from_env({})
    for field in TIMEOUTS.values():
        assert getattr(settings, field) > 0, field


@pytest.mark.parametrize(("variable", "field"), TIMEOUTS.items())
def test_a_timeout_is_read_from_its_variable(variable: str, field: str) -> None:
    settings = Settings.from_env({f"MARKETBRIEF_{variable}": "7.5"})
    assert getattr(settings, field) == 7.5


@pytest.mark.parametrize("variable", TIMEOUTS)
@pytest.mark.parametrize("bad", ["0", "-1", "soon", "nan"])
def test_a_timeout_that_is_not_a_positive_number_is_refused_by_name(
    variable: str, bad: str
) -> None:
    with pytest.raises(ConfigError, match=f"MARKETBRIEF_{variable}"):
        Settings.from_env({f"MARKETBRIEF_{variable}": bad})


def test_a_d1_store_takes_its_token_and_checks_revisions_within_d1s_budget() -> None:
    settings = Settings.from_env(
        {"MARKETBRIEF_DATABASE_URL": "d1://acct/db", "MARKETBRIEF_D1_TOKEN": "t0ken"}
    )
    assert (settings.d1_token, settings.d1_api_url) == ("t0ken", D1_API_URL)
    assert settings.revision_check_seconds == D1_REVISION_CHECK_SECONDS
    chosen = Settings.from_env(
        {
            "MARKETBRIEF_DATABASE_URL": "d1://acct/db",
            "MARKETBRIEF_D1_TOKEN": "t0ken",
            "MARKETBRIEF_REVISION_CHECK_SECONDS": "2",
        }
    )
    assert chosen.revision_check_seconds == 2.0


def test_a_d1_store_without_a_token_or_a_database_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="MARKETBRIEF_D1_TOKEN"):
        Settings.from_env({"MARKETBRIEF_DATABASE_URL": "d1://acct/db"})
    with pytest.raises(ConfigError, match="MARKETBRIEF_DATABASE_URL"):
        Settings.from_env({"MARKETBRIEF_DATABASE_URL": "d1://acct", "MARKETBRIEF_D1_TOKEN": "t"})
