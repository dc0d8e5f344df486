"""`usage`: what the store holds and is asked, per table and per day, and its growth."""

from __future__ import annotations

from typing import Any

import click

from marketbrief.cli.common import emit_json, exits_cleanly, with_results
from marketbrief.cli.tables import table
from marketbrief.results.usage import DEFAULT_USAGE_DAYS, MAX_USAGE_DAYS

_UNITS = ("B", "KB", "MB", "GB", "TB")


def human_bytes(count: float) -> str:
    """A byte count as people read it (1024-based, one decimal past bytes)."""
    size = float(count)
    for unit in _UNITS:
        if abs(size) < 1024 or unit == _UNITS[-1]:
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


@click.command("usage")
@click.option(
    "--days",
    default=DEFAULT_USAGE_DAYS,
    show_default=True,
    type=click.IntRange(1, MAX_USAGE_DAYS),
    help="How many UTC days back, today included.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
@exits_cleanly
def usage(ctx: click.Context, days: int, as_json: bool) -> None:
    """Rows and bytes per table, runs and store queries per day, growth a year ahead."""
    report = with_results(ctx, lambda results: results.usage(days))
    if as_json:
        emit_json(report)
        return
    for line in usage_lines(report):
        click.echo(line)


def usage_lines(report: dict[str, Any]) -> list[str]:
    """The usage report as text for a terminal."""
    lines = [
        f"store usage {report['from']} .. {report['to']} ({report['days']} UTC days), "
        f"measured {report['measured_at']}",
        f"rows: {report['rows_method']}; bytes: {report['bytes_method']}",
        "",
    ]
    tables = [{**t, "size": human_bytes(t["bytes"])} for t in report["tables"]]
    total = report["total"]
    tables.append({"table": "total", **total, "size": human_bytes(total["bytes"])})
    lines += table(tables)
    if report["database_bytes"] is not None:
        lines.append(f"database file: {human_bytes(report['database_bytes'])}")
    lines += ["", "per day:", *table(report["per_day"])]
    counters = report["counters"]
    unflushed = counters["unflushed_here"]
    lines += [
        f"queries and rows: {counters['source']}; this command's own "
        f"{unflushed['queries']} so far are added as it ends",
        "",
    ]
    growth = report["growth"]
    if growth["measured"]:
        year = growth["in_a_year"]
        per_day = human_bytes(growth["bytes_per_day"])
        lines += [
            f"growth: {growth['rows_per_day']} rows/day, {per_day}/day",
            f"in a year: {year['rows']} rows, {human_bytes(year['bytes'])}",
            f"({growth['method']})",
        ]
    else:
        lines.append(f"growth: not measured ({growth['why']})")
    return lines


COMMANDS: list[click.Command] = [usage]
