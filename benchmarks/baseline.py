"""The baseline: the same report endpoint written the way such a service commonly is.

A FastAPI app with a SQLAlchemy ORM session per request (a `Depends` generator), a query for
the newest snapshot of (type, date) on every request, `json.loads` of the stored report, and a
dict returned for FastAPI to encode. It reads the very same SQLite store as marketbrief.
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint's annotations at runtime,
# and `get_db` is a closure it could not resolve from a string.
import json
import os
from collections.abc import Iterator
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query
from sqlalchemy import DateTime, Integer, String, Text, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


class Base(DeclarativeBase):
    """The ORM base of the baseline's one model."""


class ReportSnapshot(Base):
    """A row of marketbrief's `scheduled_job_results`, mapped the usual ORM way."""

    __tablename__ = "scheduled_job_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str | None] = mapped_column(String(160))
    scheduled_date: Mapped[date]
    report_type: Mapped[str] = mapped_column(String(16))
    report_content: Mapped[str] = mapped_column(Text)
    content_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)


def create_app(database_url: str | None = None) -> FastAPI:
    """The FastAPI app over the store at `database_url` (default: BENCH_DATABASE_URL)."""
    url = database_url or os.environ["BENCH_DATABASE_URL"]
    engine = create_engine(url, connect_args={"check_same_thread": False})
    session_factory = sessionmaker(bind=engine)
    app = FastAPI(title="baseline")

    def get_db() -> Iterator[Session]:
        db = session_factory()
        try:
            yield db
        finally:
            db.close()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/v1/reports/{report_type}")
    def get_report(
        report_type: str,
        day: Annotated[date, Query(alias="date")],
        db: Annotated[Session, Depends(get_db)],
    ) -> dict[str, Any]:
        snapshot = db.scalars(
            select(ReportSnapshot)
            .where(ReportSnapshot.report_type == report_type)
            .where(ReportSnapshot.scheduled_date == day)
            .order_by(ReportSnapshot.id.desc())
            .limit(1)
        ).first()
        if snapshot is None:
            raise HTTPException(status_code=404, detail="report not found")
        return {
            "data": json.loads(snapshot.report_content),
            "meta": {
                "report_type": snapshot.report_type,
                "business_date": snapshot.scheduled_date.isoformat(),
                "generated_at": snapshot.created_at.isoformat(),
                "run_id": snapshot.run_id,
                "snapshot_id": snapshot.id,
                "content_sha256": snapshot.content_sha256,
            },
        }

    return app
