"""Initial schema: every table and index of the data model (docs/design.md).

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "daily_analysis",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("analysis_date", sa.Date(), nullable=False),
        sa.Column("run_id", sa.String(length=160), nullable=True),
        sa.Column("total_symbols", sa.Integer(), server_default="0", nullable=False),
        sa.Column("usable_symbols", sa.Integer(), server_default="0", nullable=False),
        sa.Column("high_confidence_symbols", sa.Integer(), server_default="0", nullable=False),
        sa.Column("execution_time_ms", sa.BigInteger(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_daily_analysis")),
        sa.UniqueConstraint("analysis_date", name=op.f("uq_daily_analysis_analysis_date")),
    )
    op.create_table(
        "job_executions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.String(length=160), nullable=False),
        sa.Column("job_type", sa.String(length=16), nullable=False),
        sa.Column("scheduled_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("current_stage", sa.String(length=32), nullable=True),
        sa.Column("trigger_source", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("execution_time_ms", sa.BigInteger(), nullable=True),
        sa.Column("symbols_processed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("symbols_successful", sa.Integer(), server_default="0", nullable=False),
        sa.Column("symbols_fallback", sa.Integer(), server_default="0", nullable=False),
        sa.Column("symbols_failed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("success_rate", sa.Float(), nullable=True),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "job_type IN ('pre-market', 'intraday', 'end-of-day', 'weekly')",
            name=op.f("ck_job_executions_job_type_valid"),
        ),
        sa.CheckConstraint(
            "status IN ('running', 'success', 'partial', 'failed')",
            name=op.f("ck_job_executions_status_valid"),
        ),
        sa.CheckConstraint(
            "trigger_source IN ('schedule', 'catch-up', 'manual', 'api', 'backfill', 'import')",
            name=op.f("ck_job_executions_trigger_source_valid"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_executions")),
        sa.UniqueConstraint("run_id", name=op.f("uq_job_executions_run_id")),
    )
    op.create_index(
        op.f("ix_job_executions_job_type_id"), "job_executions", ["job_type", "id"], unique=False
    )
    op.create_index(
        op.f("ix_job_executions_scheduled_date_id"),
        "job_executions",
        ["scheduled_date", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_job_executions_status_id"), "job_executions", ["status", "id"], unique=False
    )
    op.create_index(
        "uq_job_executions_slot",
        "job_executions",
        ["scheduled_date", "job_type"],
        unique=True,
        sqlite_where=sa.text("trigger_source IN ('schedule', 'catch-up')"),
        postgresql_where=sa.text("trigger_source IN ('schedule', 'catch-up')"),
    )
    op.create_table(
        "market_closes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("close_date", sa.Date(), nullable=False),
        sa.Column("close", sa.Float(), nullable=False),
        sa.Column("previous_close", sa.Float(), nullable=True),
        sa.Column("change_pct", sa.Float(), nullable=True),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_closes")),
        sa.UniqueConstraint(
            "symbol", "close_date", name=op.f("uq_market_closes_symbol_close_date")
        ),
    )
    op.create_table(
        "store_revision",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_revision")),
    )
    op.bulk_insert(
        sa.table(
            "store_revision", sa.column("id", sa.Integer), sa.column("revision", sa.BigInteger)
        ),
        [{"id": 1, "revision": 0}],
    )
    op.create_table(
        "job_stages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.String(length=160), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "stage IN ('init', 'data_fetch', 'analysis', 'storage', 'finalize')",
            name=op.f("ck_job_stages_stage_valid"),
        ),
        sa.CheckConstraint(
            "status IN ('running', 'success', 'failed', 'skipped')",
            name=op.f("ck_job_stages_status_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["job_executions.run_id"],
            name=op.f("fk_job_stages_run_id_job_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_stages")),
        sa.UniqueConstraint("run_id", "stage", name=op.f("uq_job_stages_run_id_stage")),
    )
    op.create_table(
        "scheduled_job_results",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.String(length=160), nullable=True),
        sa.Column("scheduled_date", sa.Date(), nullable=False),
        sa.Column("report_type", sa.String(length=16), nullable=False),
        sa.Column("report_content", sa.Text(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("trigger_source", sa.String(length=16), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "report_type IN ('pre-market', 'intraday', 'end-of-day', 'weekly')",
            name=op.f("ck_scheduled_job_results_report_type_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["job_executions.run_id"],
            name=op.f("fk_scheduled_job_results_run_id_job_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_job_results")),
        sa.UniqueConstraint("run_id", name=op.f("uq_scheduled_job_results_run_id")),
    )
    op.create_index(
        op.f("ix_scheduled_job_results_report_type_scheduled_date_id"),
        "scheduled_job_results",
        ["report_type", "scheduled_date", "id"],
        unique=False,
    )
    op.create_table(
        "symbol_predictions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("run_id", sa.String(length=160), nullable=False),
        sa.Column("scheduled_date", sa.Date(), nullable=False),
        sa.Column("report_type", sa.String(length=16), nullable=False),
        sa.Column("symbol", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("sentiment_score", sa.Float(), nullable=True),
        sa.Column("articles_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("headlines", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "direction IN ('up', 'down', 'neutral')",
            name=op.f("ck_symbol_predictions_direction_valid"),
        ),
        sa.CheckConstraint(
            "status IN ('success', 'failed', 'skipped')",
            name=op.f("ck_symbol_predictions_status_valid"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["job_executions.run_id"],
            name=op.f("fk_symbol_predictions_run_id_job_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_symbol_predictions")),
        sa.UniqueConstraint("run_id", "symbol", name=op.f("uq_symbol_predictions_run_id_symbol")),
    )
    op.create_index(
        op.f("ix_symbol_predictions_scheduled_date_report_type"),
        "symbol_predictions",
        ["scheduled_date", "report_type"],
        unique=False,
    )
    op.create_table(
        "report_latest",
        sa.Column("report_type", sa.String(length=16), nullable=False),
        sa.Column("scheduled_date", sa.Date(), nullable=False),
        sa.Column(
            "snapshot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("run_id", sa.String(length=160), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["scheduled_job_results.id"],
            name=op.f("fk_report_latest_snapshot_id_scheduled_job_results"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("report_type", "scheduled_date", name=op.f("pk_report_latest")),
    )


def downgrade() -> None:
    op.drop_table("report_latest")
    op.drop_index(
        op.f("ix_symbol_predictions_scheduled_date_report_type"), table_name="symbol_predictions"
    )
    op.drop_table("symbol_predictions")
    op.drop_index(
        op.f("ix_scheduled_job_results_report_type_scheduled_date_id"),
        table_name="scheduled_job_results",
    )
    op.drop_table("scheduled_job_results")
    op.drop_table("job_stages")
    op.drop_table("store_revision")
    op.drop_table("market_closes")
    op.drop_index(
        "uq_job_executions_slot",
        table_name="job_executions",
        sqlite_where=sa.text("trigger_source IN ('schedule', 'catch-up')"),
        postgresql_where=sa.text("trigger_source IN ('schedule', 'catch-up')"),
    )
    op.drop_index(op.f("ix_job_executions_status_id"), table_name="job_executions")
    op.drop_index(op.f("ix_job_executions_scheduled_date_id"), table_name="job_executions")
    op.drop_index(op.f("ix_job_executions_job_type_id"), table_name="job_executions")
    op.drop_table("job_executions")
    op.drop_table("daily_analysis")
