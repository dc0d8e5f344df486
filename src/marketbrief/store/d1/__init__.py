"""D1 as a live store: a DB-API driver over the D1 REST API under SQLAlchemy's SQLite dialect.

Evaluated before writing it (the verdict, in full, in docs/design.md): the official
`cloudflare` SDK (5.9.0) can post `/query` and `/raw`, batches included, but brings pydantic
and anyio for two endpoints and retries a 429 by itself, spending the rate budget that ran
out; `sqlalchemy-cloudflare-d1` (0.4.1) is a dialect whose `executemany` loops one call per
row and which has no batch at all, so no write could be atomic; `sqlalchemy-d1` (0.2.2) only
adds type and `_cf_` table filtering on top of it. The store needs batches (D1's only
transaction) and D1's `meta` counters, so this is a small driver on httpx.
"""

from sqlalchemy.dialects import registry

registry.register("d1", "marketbrief.store.d1.dialect", "D1Dialect")
