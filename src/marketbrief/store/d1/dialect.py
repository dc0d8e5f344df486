"""SQLAlchemy's SQLite dialect over the D1 driver: `d1://ACCOUNT_ID/DATABASE_ID`.

The dialect keeps the name `sqlite`, so every SQLite rule of the schema (the rowid key, the
partial unique indexes, text instants) and of Alembic applies to D1 unchanged. What differs:
no BEGIN is ever sent (D1 refuses it), the isolation level is not asked (D1 refuses the
PRAGMA), a multi-row insert is split to stay within D1's 100 bound parameters, and the token
and API base come from the engine's creator (see `d1_engine`) or, for a bare
`sa.create_engine("d1://...")`, from MARKETBRIEF_D1_TOKEN and MARKETBRIEF_D1_API_URL.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite.base import SQLiteDialect
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from marketbrief.store.d1 import dbapi
from marketbrief.store.d1.api import DEFAULT_API_URL, MAX_PARAMS, D1Api, D1Target

INTERNAL_PREFIX = "_cf_"


class D1Dialect(SQLiteDialect):
    """SQLite, spoken to D1 over HTTP."""

    driver = "d1"
    supports_statement_cache = True
    insertmanyvalues_max_parameters = MAX_PARAMS

    @classmethod
    def import_dbapi(cls) -> ModuleType:
        return dbapi

    _api: D1Api | None = None

    def create_connect_args(self, url: URL) -> Any:
        return [], {"url": url}

    def connect(self, *cargs: Any, **cparams: Any) -> Any:
        # Only a bare create_engine("d1://...") gets here; `d1_engine` passes its own creator.
        if self._api is None:
            self._api = D1Api(target_from_url(cparams["url"]))
        return dbapi.connect(self._api)

    def get_isolation_level(self, dbapi_connection: Any) -> Any:
        return "SERIALIZABLE"

    def set_isolation_level(self, dbapi_connection: Any, level: Any) -> None:
        return None

    def _get_server_version_info(self, connection: Any) -> Any:
        return dbapi.sqlite_version_info

    # D1 refuses anything that touches the temp schema, and keeps tables of its own (`_cf_*`).
    def _get_table_pragma(
        self, connection: Any, pragma: str, table_name: str, schema: str | None = None
    ) -> Any:
        return super()._get_table_pragma(  # type: ignore[no-untyped-call]
            connection, pragma, table_name, schema or "main"
        )

    def get_table_names(self, connection: Any, *args: Any, **kw: Any) -> Any:
        names = super().get_table_names(connection, *args, **kw)  # type: ignore[no-untyped-call]
        return [name for name in names if not name.startswith(INTERNAL_PREFIX)]

    def get_temp_table_names(self, connection: Any, *args: Any, **kw: Any) -> Any:
        return []

    def get_temp_view_names(self, connection: Any, *args: Any, **kw: Any) -> Any:
        return []

    def do_begin(self, dbapi_connection: Any) -> None:
        return None

    def do_ping(self, dbapi_connection: Any) -> bool:
        return True

    def is_disconnect(self, e: Any, connection: Any, cursor: Any) -> bool:
        return False


def target_from_url(
    url: URL | str, token: str | None = None, api_url: str | None = None
) -> D1Target:
    """The D1 database a `d1://ACCOUNT_ID/DATABASE_ID` URL names (token and API from the env)."""
    parsed = sa.make_url(url) if isinstance(url, str) else url
    account, database = parsed.host or "", (parsed.database or "").strip("/")
    if not account or not database:
        raise ValueError(f"a D1 URL is d1://ACCOUNT_ID/DATABASE_ID, not {parsed!r}")
    return D1Target(
        account_id=account,
        database_id=database,
        token=token if token is not None else os.environ.get("MARKETBRIEF_D1_TOKEN", ""),
        api_url=api_url or os.environ.get("MARKETBRIEF_D1_API_URL") or DEFAULT_API_URL,
    )


def d1_engine(api: D1Api) -> sa.Engine:
    """An engine whose connections all share `api` (and so its HTTP pool and usage counter)."""
    url = f"d1://{api.target.account_id}/{api.target.database_id}"
    return sa.create_engine(url, poolclass=NullPool, creator=lambda: dbapi.connect(api))
