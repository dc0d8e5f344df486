"""The market data of the old D1 database: predictions, daily analyses and closes.

One mapper per old table (symbol_predictions, daily_analysis, market_close_data), like those
of `history`: unmappable rows are skipped with a reason, rows already present are counted, the
rest is inserted in the session's one transaction.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time
from typing import Any

import sqlalchemy as sa

from marketbrief.calendar import NEW_YORK
from marketbrief.d1 import values as legacy
from marketbrief.d1.rows import OldRow
from marketbrief.d1.session import IMPORT, ImportSession, note
from marketbrief.models import Direction, PredictionStatus, ReportType, RunStatus, Stage
from marketbrief.ops.columns import shown
from marketbrief.store.rows import elapsed_ms
from marketbrief.store.schema import (
    daily_analysis,
    job_executions,
    market_closes,
    symbol_predictions,
)


def predictions(imp: ImportSession, rows: list[dict[str, Any]]) -> None:
    """symbol_predictions -> symbol_predictions, on the day's imported pre-market run."""
    table = "symbol_predictions"
    p, j = symbol_predictions.c, job_executions.c
    present = {
        (r.scheduled_date, r.symbol)
        for r in imp.c.execute(
            sa.select(p.scheduled_date, p.symbol)
            .join(job_executions, j.run_id == p.run_id)
            .where(j.trigger_source == IMPORT)
        )
    }
    by_day: dict[date, dict[str, tuple[OldRow, dict[str, Any]]]] = defaultdict(dict)
    rescaled = 0
    for raw in rows:
        imp.advance()
        row = OldRow(
            table,
            f"id {shown(raw.get('id'))} ({raw.get('prediction_date')} {raw.get('symbol')})",
            raw,
        )
        values = _prediction_values(imp, row)
        if values is None:
            continue
        rescaled += values.pop("_rescaled")
        day, symbol = values["scheduled_date"], values["symbol"]
        held = by_day[day].get(symbol)
        if held is not None:
            if _stamp(held[1]) <= _stamp(values):
                by_day[day][symbol] = (row, values)
            imp.report.skip(
                table, f"{day} {symbol}", "another prediction for the symbol and day is newer"
            )
        else:
            by_day[day][symbol] = (row, values)
    for day, found in sorted(by_day.items()):
        new = [held for s, held in sorted(found.items()) if (day, s) not in present]
        imp.report.tally(table).present += len(found) - len(new)
        if not new:
            continue
        run_id = imp.premarket_run(day) or _run_for_predictions(imp, day, new)
        for row, values in new:
            values.update(run_id=run_id, report_type=imp.runs[run_id].job_type)
            values["created_at"] = values["created_at"] or imp.runs[run_id].started_at
            row.checked(symbol_predictions, values)
        imp.c.execute(sa.insert(symbol_predictions), [values for _row, values in new])
        imp.report.tally(table).imported += len(new)
    if rescaled:
        imp.report.notes.append(
            f"{table}: {rescaled} confidence(s) given in percent, divided by 100"
        )


def _stamp(values: dict[str, Any]) -> datetime:
    return values["created_at"] or datetime.min.replace(tzinfo=UTC)


def _prediction_values(imp: ImportSession, row: OldRow) -> dict[str, Any] | None:
    day, symbol = row.day("prediction_date"), row.text("symbol", 16)
    if day is None or symbol is None:
        imp.report.skip(row.table, row.key, "no prediction_date or symbol")
        return None
    raw_status = row.get("status")
    if raw_status is None:
        status = PredictionStatus.FAILED if row.get("error_message") else PredictionStatus.SUCCESS
    elif (mapped := legacy.prediction_status(raw_status)) is not None:
        status = mapped
    else:
        imp.report.skip(row.table, row.key, f"unknown status {raw_status!r}")
        return None
    label = legacy.direction(row.get("sentiment"))  # some eras kept a label, others a score
    direction = legacy.direction(row.get("direction")) or label
    if direction is None and status is PredictionStatus.SUCCESS:
        imp.report.skip(row.table, row.key, f"unknown direction {row.get('direction')!r}")
        return None
    confidence, rescaled = row.number("confidence"), False
    if confidence is not None and 1 < confidence <= 100:
        confidence, rescaled = confidence / 100, True
    if confidence is not None and not 0 <= confidence <= 1:
        raise row.refuse("confidence", f"{confidence} is neither a fraction nor a percentage")
    return {
        "scheduled_date": day,
        "symbol": symbol.upper(),
        # A failed or skipped row without a direction has none to give: neutral, no confidence.
        "direction": (direction or Direction.NEUTRAL).value,
        # A failed analysis has no confidence: whatever number the old row holds is dropped,
        # not carried over as if the analysis had produced it.
        "confidence": confidence if status is PredictionStatus.SUCCESS else None,
        "sentiment_score": None if label is not None else row.number("sentiment"),
        "articles_count": row.whole("articles_count") or 0,
        "model": row.text("model", 64) or "legacy",
        "status": status.value,
        "error": row.text("error_message"),
        "headlines": legacy.json_list(row.get("articles_content")),
        "created_at": row.instant("created_at"),
        "_rescaled": rescaled,
    }


def _run_for_predictions(
    imp: ImportSession, day: date, held: list[tuple[OldRow, dict[str, Any]]]
) -> str:
    """A run `<date>_pre-market_d1-predictions` to hold a day's predictions that have none."""
    run_id = f"{day}_{ReportType.PRE_MARKET.value}_d1-predictions"
    values = [v for _row, v in held]
    stamps = [v["created_at"] for v in values if v["created_at"] is not None]
    started = (
        min(stamps) if stamps else datetime.combine(day, time(0), tzinfo=NEW_YORK).astimezone(UTC)
    )
    successful = sum(v["status"] == PredictionStatus.SUCCESS.value for v in values)
    failed = sum(v["status"] == PredictionStatus.FAILED.value for v in values)
    status = (
        RunStatus.FAILED if not successful else RunStatus.PARTIAL if failed else RunStatus.SUCCESS
    )
    marker = note("symbol_predictions", note="made by the import to hold the day's predictions")
    made = imp.add_run(
        held[0][0],
        {
            "run_id": run_id,
            "job_type": ReportType.PRE_MARKET.value,
            "scheduled_date": day,
            "status": status.value,
            "current_stage": Stage.FINALIZE.value,
            "trigger_source": IMPORT,
            "started_at": started,
            "executed_at": max(stamps) if stamps else None,
            "execution_time_ms": elapsed_ms(started, max(stamps)) if stamps else None,
            "symbols_processed": len(values),
            "symbols_successful": successful,
            "symbols_fallback": 0,
            "symbols_failed": failed,
            "success_rate": successful / len(values),
            "errors": [],
            "warnings": [marker],
            "created_at": started,
        },
        count=False,
    )
    imp.report.runs_made += made
    return run_id


def analyses(imp: ImportSession, rows: list[dict[str, Any]]) -> None:
    """daily_analysis -> daily_analysis (one per date)."""
    table = "daily_analysis"
    d = daily_analysis.c
    present = set(imp.c.execute(sa.select(d.analysis_date)).scalars())
    for raw in rows:
        imp.advance()
        row = OldRow(table, f"id {shown(raw.get('id'))} ({raw.get('analysis_date')})", raw)
        day = row.day("analysis_date")
        if day is None:
            imp.report.skip(table, row.key, "no analysis_date")
            continue
        if day in present:
            imp.report.tally(table).present += 1
            continue
        created = row.instant("created_at") or imp.now
        imp.insert(
            daily_analysis,
            {
                "analysis_date": day,
                "run_id": imp.premarket_run(day),
                "total_symbols": row.whole("total_symbols") or 0,
                "execution_time_ms": row.whole("execution_time"),
                "summary": legacy.json_object(row.get("summary"), "summary"),
                "created_at": created,
                "updated_at": row.instant("updated_at") or created,
            },
            row,
        )
        present.add(day)
        imp.report.tally(table).imported += 1


def closes(imp: ImportSession, rows: list[dict[str, Any]]) -> None:
    """market_close_data -> market_closes (one per symbol and date)."""
    table = "market_close_data"
    m = market_closes.c
    present = {(r.symbol, r.close_date) for r in imp.c.execute(sa.select(m.symbol, m.close_date))}
    for raw in rows:
        imp.advance()
        row = OldRow(
            table, f"id {shown(raw.get('id'))} ({raw.get('close_date')} {raw.get('symbol')})", raw
        )
        day, symbol = row.day("close_date"), row.text("symbol", 16)
        close = row.number("close_price")
        if day is None or symbol is None:
            imp.report.skip(table, row.key, "no close_date or symbol")
            continue
        if close is None:
            imp.report.skip(table, row.key, "no close_price")
            continue
        if (symbol.upper(), day) in present:
            imp.report.tally(table).present += 1
            continue
        previous = row.number("previous_close")
        # Derived from the two closes (percent, as ours); the old day_change's unit is unknown.
        change = (close - previous) / previous * 100 if previous else None
        imp.insert(
            market_closes,
            {
                "symbol": symbol.upper(),
                "close_date": day,
                "close": close,
                "previous_close": previous,
                "change_pct": change,
                "source": row.text("source", 64) or "d1-import",
                "created_at": row.instant("created_at") or imp.now,
            },
            row,
        )
        present.add((symbol.upper(), day))
        imp.report.tally(table).imported += 1
