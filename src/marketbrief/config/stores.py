"""What a store URL may be (SQLite, PostgreSQL, Cloudflare D1), and D1's own defaults."""

from __future__ import annotations

from urllib.parse import urlsplit

D1_API_URL = "https://api.cloudflare.com/client/v4"
# D1 allows 1,200 API calls per 5 minutes per token. A revision check is one call: every 5 s
# it is 60 calls per 5 minutes per process (5% of the budget), leaving the rest for the
# writes (one call a claim, a stage or a finish) and the reads the cache does not hold, for
# up to a dozen processes per token.
D1_REVISION_CHECK_SECONDS = 5.0


def database_url_of(value: str) -> str:
    """A MARKETBRIEF_DATABASE_URL as the store opens it (`postgres://` becomes psycopg's)."""
    scheme = urlsplit(value).scheme
    if scheme in ("postgres", "postgresql"):
        return "postgresql+psycopg" + value[len(scheme) :]
    if scheme in ("postgresql+psycopg", "sqlite"):
        return value
    if scheme == "d1":
        parts = urlsplit(value)
        if not parts.hostname or not parts.path.strip("/"):
            raise ValueError("expected d1://ACCOUNT_ID/DATABASE_ID")
        return value
    raise ValueError(
        "expected sqlite:///PATH, postgresql://USER@HOST:PORT/DB or d1://ACCOUNT_ID/DATABASE_ID"
    )
