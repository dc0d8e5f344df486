"""The SQL schema, declared once in SQLAlchemy Core for SQLite and PostgreSQL alike.

Alembic migrations in `migrations/versions` must produce exactly this; a test proves it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from marketbrief.models import (
    Direction,
    PredictionStatus,
    ReportType,
    RunStatus,
    Stage,
    StageStatus,
    TriggerSource,
)

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """An aware UTC instant in and out; SQLite keeps it as text, PostgreSQL as timestamptz."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: instants must be timezone-aware")
        value = value.astimezone(UTC)
        # SQLite has no time zones: store the UTC wall time, re-attach UTC on the way out.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# A big integer key that is still SQLite's rowid alias (only INTEGER PRIMARY KEY is).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _one_of(column: str, values: Any) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{v.value}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=f"{column}_valid")


SLOT_TRIGGERS = tuple(t.value for t in TriggerSource if t.claims_slot)

job_executions = sa.Table(
    "job_executions",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(160), nullable=False, unique=True),
    sa.Column("job_type", sa.String(16), nullable=False),
    sa.Column("scheduled_date", sa.Date, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("current_stage", sa.String(32)),
    sa.Column("trigger_source", sa.String(16), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("executed_at", UTCDateTime),
    sa.Column("execution_time_ms", sa.BigInteger),
    sa.Column("symbols_processed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("symbols_successful", sa.Integer, nullable=False, server_default="0"),
    sa.Column("symbols_fallback", sa.Integer, nullable=False, server_default="0"),
    sa.Column("symbols_failed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("success_rate", sa.Float),
    sa.Column("errors", sa.JSON, nullable=False),
    sa.Column("warnings", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # Liveness: the worker running the run renews its lease; only an expired lease is swept.
    sa.Column("lease_until", UTCDateTime),
    # When the sweeper marked the run failed; cleared when the run's real result arrives after.
    sa.Column("swept_at", UTCDateTime),
    # The version of the report the run produces, issued by the store when it claimed the run
    # (provisional for a run that reached the store only through the outbox); null for a run
    # recorded before the store issued versions, whose version is its start in microseconds.
    sa.Column("version", sa.BigInteger),
    _one_of("job_type", ReportType),
    _one_of("status", RunStatus),
    _one_of("trigger_source", TriggerSource),
    # History: all, by type, by status, newest start first (keyset on (started_at, id));
    # by date (migration 0011).
    sa.Index(None, "started_at", "id"),
    sa.Index(None, "job_type", "started_at", "id"),
    sa.Index(None, "status", "started_at", "id"),
    sa.Index(None, "scheduled_date", "id"),
    # A scheduled slot is claimed at most once across every process: two schedulers never run
    # one report twice.
    sa.Index(
        "uq_job_executions_slot",
        "scheduled_date",
        "job_type",
        unique=True,
        sqlite_where=sa.text("trigger_source IN ('schedule', 'catch-up')"),
        postgresql_where=sa.text("trigger_source IN ('schedule', 'catch-up')"),
    ),
)

job_stages = sa.Table(
    "job_stages",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "run_id",
        sa.String(160),
        sa.ForeignKey("job_executions.run_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("stage", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("ended_at", UTCDateTime),
    sa.Column("details", sa.JSON, nullable=False),
    _one_of("stage", Stage),
    _one_of("status", StageStatus),
    sa.UniqueConstraint("run_id", "stage"),
)

scheduled_job_results = sa.Table(
    "scheduled_job_results",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    # Null only for legacy rows imported from the old system.
    sa.Column(
        "run_id",
        sa.String(160),
        sa.ForeignKey("job_executions.run_id", ondelete="CASCADE"),
        unique=True,
    ),
    sa.Column("scheduled_date", sa.Date, nullable=False),
    sa.Column("report_type", sa.String(16), nullable=False),
    # The exact payload bytes (UTF-8 JSON text), served as stored.
    sa.Column("report_content", sa.Text, nullable=False),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("trigger_source", sa.String(16), nullable=False),
    sa.Column("content_sha256", sa.String(64), nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    _one_of("report_type", ReportType),
    sa.Index(None, "report_type", "scheduled_date", "id"),
)

report_latest = sa.Table(
    "report_latest",
    metadata,
    sa.Column("report_type", sa.String(16), primary_key=True),
    sa.Column("scheduled_date", sa.Date, primary_key=True),
    sa.Column(
        "snapshot_id",
        BigId,
        sa.ForeignKey("scheduled_job_results.id", ondelete="RESTRICT"),
        nullable=False,
    ),
    sa.Column("run_id", sa.String(160)),
    # Follows the order in which runs started; the pointer only ever moves to a higher one.
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# One row of counters: `revision` grows with every transaction that moves a latest pointer
# (readers compare it to notice reports published by other processes), `runs_revision` with
# every write to run history.
store_revision = sa.Table(
    "store_revision",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("revision", sa.BigInteger, nullable=False),
    # Bumped by every write to job_executions: cached history pages are keyed by it.
    sa.Column("runs_revision", sa.BigInteger, nullable=False, server_default="0"),
    # The last report version the store issued: each claim moves it on by VERSION_STRIDE.
    sa.Column("issued_version", sa.BigInteger, nullable=False, server_default="0"),
    # When a serving process or scheduler first started on this store (null until then): no
    # slot before it, and before the first run's slot, was ever due, so none is `missed`.
    sa.Column("schedule_started_at", UTCDateTime),
)

symbol_predictions = sa.Table(
    "symbol_predictions",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "run_id",
        sa.String(160),
        sa.ForeignKey("job_executions.run_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("scheduled_date", sa.Date, nullable=False),
    sa.Column("report_type", sa.String(16), nullable=False),
    sa.Column("symbol", sa.String(16), nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),
    # Null means the analysis failed; never a default number.
    sa.Column("confidence", sa.Float),
    sa.Column("sentiment_score", sa.Float),
    sa.Column("articles_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("model", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("headlines", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    _one_of("direction", Direction),
    _one_of("status", PredictionStatus),
    sa.UniqueConstraint("run_id", "symbol"),
    sa.Index(None, "scheduled_date", "report_type"),
)

daily_analysis = sa.Table(
    "daily_analysis",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("analysis_date", sa.Date, nullable=False, unique=True),
    sa.Column("run_id", sa.String(160)),
    sa.Column("total_symbols", sa.Integer, nullable=False, server_default="0"),
    sa.Column("usable_symbols", sa.Integer, nullable=False, server_default="0"),
    sa.Column("high_confidence_symbols", sa.Integer, nullable=False, server_default="0"),
    sa.Column("execution_time_ms", sa.BigInteger),
    sa.Column("summary", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

market_closes = sa.Table(
    "market_closes",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("symbol", sa.String(16), nullable=False),
    sa.Column("close_date", sa.Date, nullable=False),
    sa.Column("close", sa.Float, nullable=False),
    sa.Column("previous_close", sa.Float),
    sa.Column("change_pct", sa.Float),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("symbol", "close_date"),
)

# What the service noticed about itself and told people: one row per incident. At most one
# incident per (kind, subject) is open at a time, across every process: the partial unique
# index decides which process opens it (and so which one sends the alert).
INCIDENT_KINDS = (
    "run_failed",
    "slot_missed",
    "outbox_stuck",
    "report_stale",
    "corruption",
    "rollback_trigger",
    "rollback_cleared",  # an operator's `marketbrief rollback clear` (migration 0010)
)
incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("subject", sa.String(160), nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("report_type", sa.String(16)),
    sa.Column("business_date", sa.Date),
    sa.Column("link", sa.Text),
    # Since when the condition holds (not when it was noticed).
    sa.Column("since", UTCDateTime, nullable=False),
    sa.Column("opened_at", UTCDateTime, nullable=False),
    # Compare-and-set by the process that sends a repeat, so one repeat goes out per interval.
    sa.Column("last_notified_at", UTCDateTime, nullable=False),
    sa.Column("notify_count", sa.Integer, nullable=False, server_default="1"),
    sa.Column("resolved_at", UTCDateTime),
    sa.CheckConstraint(
        "kind IN (" + ", ".join(f"'{k}'" for k in INCIDENT_KINDS) + ")", name="kind_valid"
    ),
    sa.Index(
        "uq_incidents_open",
        "kind",
        "subject",
        unique=True,
        sqlite_where=sa.text("resolved_at IS NULL"),
        postgresql_where=sa.text("resolved_at IS NULL"),
    ),
)

# Reports sent to the delivery channels: one row per published (type, date, version), claimed
# by the one process whose insert wins; `delivered_at` is set once every channel took it, and an
# undelivered claim older than its lease is taken over (compare-and-set on `claimed_at`).
deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("report_type", sa.String(16), nullable=False),
    sa.Column("business_date", sa.Date, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("run_id", sa.String(160)),
    sa.Column("claimed_at", UTCDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
    # The channels (positions in MARKETBRIEF_DELIVER) that took it, comma-separated.
    sa.Column("channels_done", sa.Text, nullable=False, server_default=""),
    sa.Column("delivered_at", UTCDateTime),
    sa.UniqueConstraint("report_type", "business_date", "version"),
)

# What the service asked of the store, per UTC day (migration 0012): every process counts its
# statements and rows at the store's edge and adds its totals here (an UPSERT that increments),
# so concurrent processes sum, never overwrite.
store_usage = sa.Table(
    "store_usage",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("queries", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("rows_read", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("rows_written", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

ALL_TABLES = tuple(metadata.sorted_tables)

# A write's condition tested once at the start of its batch (see store/guards.py): the token
# is present only while the batch that inserted it runs, and only if the condition held.
batch_guards = sa.Table(
    "batch_guards",
    metadata,
    sa.Column("token", sa.String(32), primary_key=True),
)
