"""A private PostgreSQL schema seeded in bulk: run rows by COPY, then the report rows."""

from __future__ import annotations

import time
from collections.abc import Iterator

from harness.store import migrate

from benchmarks.backends import PgSchema
from benchmarks.seed_history import RUN_COLUMNS, RunRows, SeedInfo, SeedPlan
from benchmarks.seed_snapshots import bump_revisions, snapshot_rows


def _pg_stamp(text: str) -> str:
    return text + "+00"


def _copy_lines(rows: RunRows) -> Iterator[bytes]:
    """The run rows in COPY text format, in chunks of about 4 MB."""
    chunk: list[str] = []
    size = 0
    for row in rows:
        line = "\t".join(
            (
                str(row[0]),
                row[1],
                row[2],
                row[3],
                row[4],
                row[5],
                row[6],
                _pg_stamp(row[7]),
                _pg_stamp(row[8]),
                str(row[9]),
                str(row[10]),
                str(row[11]),
                str(row[12]),
                str(row[13]),
                repr(row[14]),
                row[15],
                row[16],
                _pg_stamp(row[17]),
            )
        )
        chunk.append(line)
        size += len(line) + 1
        if size > 4_000_000:
            yield ("\n".join(chunk) + "\n").encode()
            chunk, size = [], 0
    if chunk:
        yield ("\n".join(chunk) + "\n").encode()


def seed_postgres(schema: PgSchema, plan: SeedPlan) -> SeedInfo:
    """Migrate the private schema, then COPY the plan's runs into it and ANALYZE.

    Run rows go in with `COPY ... FROM STDIN` through psycopg, inside one transaction, with the
    secondary indexes of `job_executions` dropped during the load and rebuilt from their own
    definitions afterwards.
    """
    import psycopg

    began = time.perf_counter()
    migrate(schema.url)
    with psycopg.connect(schema.conninfo) as connection:
        indexes = connection.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i "
            "WHERE i.schemaname = %s AND i.tablename = 'job_executions' "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
            "  JOIN pg_class k ON k.oid = c.conindid "
            "  JOIN pg_namespace n ON n.oid = k.relnamespace "
            "  WHERE k.relname = i.indexname AND n.nspname = i.schemaname)",
            (schema.name,),
        ).fetchall()
        for name, _definition in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        rows = RunRows(plan)
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY job_executions ({', '.join(RUN_COLUMNS)}) FROM STDIN") as copy:
                for chunk in _copy_lines(rows):
                    copy.write(chunk)
            for _name, definition in indexes:
                cursor.execute(definition)
            extras = snapshot_rows(rows.slots)
            for insert, values in extras.inserts("%s"):
                # Every row ends with its created/updated instant: a UTC timestamp here.
                cursor.executemany(insert, [(*x[:-1], _pg_stamp(x[-1])) for x in values])
            for table in ("job_executions", "scheduled_job_results"):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            columns = [
                str(row[0])
                for row in cursor.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = 'store_revision'",
                    (schema.name,),
                ).fetchall()
            ]
            cursor.execute(bump_revisions(columns))
        connection.commit()
        connection.autocommit = True
        connection.execute("ANALYZE")
    return SeedInfo.finished(plan, len(extras.snapshots), began, schema.name)
