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
from marketbrief.d1 import dates
from marketbrief.d1 import values as legacy
from marketbrief.d1.rows import OldRow
from marketbrief.d1.session import IMPORT, MADE_SUFFIX, ImportSession, note
from marketbrief.errors import InvalidInput
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
    """symbol_predictions -> symbol_predictions, on the day's imported pre-market run.

    A day without one gets a run made to hold its predictions; once a later dump brings the
    day's real run, the predictions move onto it and the made run is dropped."""
    table = "symbol_predictions"
    held = _held_predictions(imp)
    by_day: dict[date, dict[str, tuple[OldRow, dict[str, Any]]]] = defaultdict(dict)
    moved: set[tuple[date, str]] = set()  # (stored date, symbol) of the re-dated predictions
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
        if values["_stored_day"] != day:
            moved.add((values["_stored_day"], symbol))
        del values["_stored_day"]
        kept = by_day[day].get(symbol)
        if kept is not None:
            if _stamp(kept[1]) <= _stamp(values):
                by_day[day][symbol] = (row, values)
            imp.report.skip(
                table, f"{day} {symbol}", "another prediction for the symbol and day is newer"
            )
        else:
            by_day[day][symbol] = (row, values)
    tally = imp.report.tally(table)
    for day, found in sorted(by_day.items()):
        chosen = [kept for _symbol, kept in sorted(found.items())]
        run_id = imp.premarket_run(day) or _run_for_predictions(imp, day, chosen)
        new = []
        for row, values in chosen:
            values.update(run_id=run_id, report_type=imp.runs[run_id].job_type)
            values["created_at"] = values["created_at"] or imp.runs[run_id].started_at
            stored = held.get((day, values["symbol"]))
            if stored is None:
                new.append((row, values))
            elif imp.refresh(
                symbol_predictions, {"id": stored["id"]}, values, row,
                held=stored,
            ):  # fmt: skip
                tally.updated += 1
            else:
                tally.present += 1
        imp.insert_many(symbol_predictions, new)
        tally.imported += len(new)
    # A prediction an earlier import kept under the date this dump corrects is now under the
    # right date: the copy at the old one goes (and with it, a run made only to hold it).
    wanted = {(day, symbol) for day, found in by_day.items() for symbol in found}
    stale = [held[key]["id"] for key in sorted(moved - wanted) if key in held]
    if stale:
        imp.execute(sa.delete(symbol_predictions).where(symbol_predictions.c.id.in_(stale)))
        imp.report.notes.append(
            f"{table}: {len(stale)} prediction(s) imported before under a date now corrected "
            "were moved to it"
        )
    _drop_empty_made_runs(imp)
    if rescaled:
        imp.report.notes.append(
            f"{table}: {rescaled} confidence(s) given in percent, divided by 100"
        )


def _held_predictions(imp: ImportSession) -> dict[tuple[date, str], dict[str, Any]]:
    """The predictions on imported runs, by (date, symbol)."""
    found = imp.c.execute(sa.select(symbol_predictions).order_by(symbol_predictions.c.id))
    return {
        (r["scheduled_date"], r["symbol"]): dict(r)
        for r in found.mappings()
        if r["run_id"] in imp.runs and imp.runs[r["run_id"]].imported
    }


def _drop_empty_made_runs(imp: ImportSession) -> None:
    """Delete the runs the import made to hold predictions that now hold none."""
    j, p = job_executions.c, symbol_predictions.c
    made = [
        run_id for run_id, run in imp.runs.items() if run.imported and run_id.endswith(MADE_SUFFIX)
    ]
    if not made:
        return
    holding = set(imp.c.execute(sa.select(p.run_id).where(p.run_id.in_(made)).distinct()).scalars())
    empty = [run_id for run_id in made if run_id not in holding]
    if empty:
        imp.execute(sa.delete(job_executions).where(j.run_id.in_(empty)))
        for run_id in empty:
            del imp.runs[run_id]
        imp.report.notes.append(
            f"symbol_predictions: {len(empty)} run(s) made to hold predictions dropped; their "
            "predictions moved to the day's imported pre-market run"
        )


def _stamp(values: dict[str, Any]) -> datetime:
    return values["created_at"] or datetime.min.replace(tzinfo=UTC)


def _prediction_values(imp: ImportSession, row: OldRow) -> dict[str, Any] | None:
    day, symbol = row.day("prediction_date"), row.text("symbol", 16)
    if day is None or symbol is None:
        imp.report.skip(row.table, row.key, "no prediction_date or symbol")
        return None
    created, stored_day = row.instant("created_at"), day
    if created is not None:
        fixed = dates.corrected(imp.calendar, ReportType.PRE_MARKET, day, created)
        if fixed is not None:
            imp.report.correct(row.table, f"{row.key}: {day} -> {fixed[0]}", fixed[1])
            day = fixed[0]
    raw_status = row.get("status")
    if raw_status is None:
        status = PredictionStatus.FAILED if row.get("error_message") else PredictionStatus.SUCCESS
    elif (mapped := legacy.prediction_status(raw_status)) is not None:
        status = mapped
    else:
        imp.report.skip(row.table, row.key, f"unknown status {raw_status!r}")
        return None
    confidence, rescaled = row.number("confidence"), False
    failure = _failure(row, confidence) if status is PredictionStatus.SUCCESS else None
    if failure is not None:
        # The status column's default said success; the row itself says the analysis failed.
        status = PredictionStatus.FAILED
    raw_direction = row.get("direction")
    label = legacy.direction(row.get("sentiment"))  # some eras kept a label, others a score
    direction = legacy.direction(raw_direction) or label
    if direction is None and status is PredictionStatus.SUCCESS:
        imp.report.skip(row.table, row.key, f"unknown direction {raw_direction!r}")
        return None
    if confidence is not None and 1 < confidence <= 100:
        confidence, rescaled = confidence / 100, True
    if confidence is not None and not 0 <= confidence <= 1:
        raise row.refuse("confidence", f"{confidence} is neither a fraction nor a percentage")
    sentiment = row.get("sentiment")
    return {
        "scheduled_date": day,
        "symbol": symbol.upper(),
        # A failed or skipped row without a direction has none to give: neutral, no confidence.
        "direction": (direction or Direction.NEUTRAL).value,
        # A failed analysis has no confidence: whatever number the old row holds is dropped,
        # not carried over as if the analysis had produced it.
        "confidence": confidence if status is PredictionStatus.SUCCESS else None,
        "sentiment_score": (
            None
            if label is not None or legacy.failed_signal(sentiment)
            else row.number("sentiment")
        ),
        "articles_count": row.whole("articles_count") or 0,
        "model": row.text("model", 64) or "legacy",
        "status": status.value,
        "error": row.text("error_message") or failure,
        "headlines": legacy.json_list(row.get("articles_content")),
        "created_at": created,
        "_rescaled": rescaled and status is PredictionStatus.SUCCESS,
        "_stored_day": stored_day,
    }


def _failure(row: OldRow, confidence: float | None) -> str | None:
    """Why an old prediction marked (or defaulted to) success is a failed analysis, if it is."""
    for column in ("direction", "sentiment"):
        if legacy.failed_signal(row.get(column)):
            return f"the old analysis failed ({column} {row.get(column)!r})"
    model = row.get("model")
    if isinstance(model, str) and model.strip().lower() == "none":
        return "the old analysis failed (model 'none')"
    if confidence is None:
        return "the old analysis failed (no confidence)"
    return None


def _run_for_predictions(
    imp: ImportSession, day: date, held: list[tuple[OldRow, dict[str, Any]]]
) -> str:
    """A run `<date>_pre-market_d1-predictions` to hold a day's predictions that have none."""
    run_id = f"{day}_{ReportType.PRE_MARKET.value}{MADE_SUFFIX}"
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
    new = run_id not in imp.runs
    imp.add_run(
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
    imp.report.runs_made += new
    return run_id


def analyses(imp: ImportSession, rows: list[dict[str, Any]]) -> None:
    """daily_analysis -> daily_analysis (one per date); the import's own rows are refreshed."""
    table = "daily_analysis"
    stored = {
        r["analysis_date"]: dict(r) for r in imp.c.execute(sa.select(daily_analysis)).mappings()
    }
    present = {
        day: r["run_id"] is None or (r["run_id"] in imp.runs and imp.runs[r["run_id"]].imported)
        for day, r in stored.items()
    }
    seen: set[date] = set()
    for raw in rows:
        imp.advance()
        row = OldRow(table, f"id {shown(raw.get('id'))} ({raw.get('analysis_date')})", raw)
        day = row.day("analysis_date")
        if day is None:
            imp.report.skip(table, row.key, "no analysis_date")
            continue
        created = row.instant("created_at")
        values = {
            "analysis_date": day,
            "run_id": imp.premarket_run(day),
            "total_symbols": row.whole("total_symbols") or 0,
            "execution_time_ms": row.whole("execution_time"),
            "summary": legacy.json_object(row.get("summary"), "summary"),
            "created_at": created or imp.now,
            "updated_at": row.instant("updated_at") or created or imp.now,
        }
        tally = imp.report.tally(table)
        if day not in present:
            imp.insert(daily_analysis, values, row)
            tally.imported += 1
        elif (
            present[day]
            and day not in seen
            and imp.refresh(
                daily_analysis,
                {"analysis_date": day},
                values,
                row,
                # the import's clock stands in for a time the old row lacks: keep the first
                kept=() if created else ("created_at", "updated_at"),
                held=stored[day],
            )
        ):
            tally.updated += 1
        else:
            tally.present += 1
        present.setdefault(day, True)
        seen.add(day)


def closes(imp: ImportSession, rows: list[dict[str, Any]]) -> None:
    """market_close_data -> market_closes (one per symbol and session), the source kept.

    A close cached under a day with no NYSE session (a weekend, a holiday) is not that day's
    close: it is skipped with the reason, never served as one."""
    table = "market_close_data"
    stored = {
        (r["symbol"], r["close_date"]): dict(r)
        for r in imp.c.execute(sa.select(market_closes)).mappings()
    }
    present = {key: r["source"] for key, r in stored.items()}
    seen: set[tuple[str, date]] = set()
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
        if not _session(imp, day):
            imp.report.skip(
                table,
                f"{row.key} from {row.get('source') or 'an unnamed source'}",
                "close_date is not a NYSE session (a weekend or holiday): not that day's close",
            )
            continue
        previous = row.number("previous_close")
        # Derived from the two closes (percent, as ours); the old day_change's unit is unknown.
        change = (close - previous) / previous * 100 if previous else None
        key = (symbol.upper(), day)
        created = row.instant("created_at")
        values = {
            "symbol": key[0],
            "close_date": day,
            "close": close,
            "previous_close": previous,
            "change_pct": change,
            "source": row.text("source", 64) or "d1-import",
            "created_at": created or imp.now,
        }
        tally = imp.report.tally(table)
        if key not in present:
            imp.insert(market_closes, values, row)
            tally.imported += 1
        elif (
            present[key] == values["source"]
            and key not in seen
            and imp.refresh(
                market_closes,
                {"symbol": key[0], "close_date": day},
                values,
                row,
                kept=() if created else ("created_at",),
                held=stored[key],
            )
        ):
            tally.updated += 1
        else:
            tally.present += 1
        present.setdefault(key, values["source"])
        seen.add(key)


def _session(imp: ImportSession, day: date) -> bool:
    """Whether `day` is a NYSE session (a day outside the calendar's coverage is kept)."""
    try:
        imp.calendar.check(day)
    except InvalidInput:
        return True
    return imp.calendar.is_session(day)
