"""The portable archive: one JSON-lines file per table plus a manifest, readable by either engine.

    <archive>/manifest.json               format, schema revision, per file: rows, bytes, sha256
    <archive>/job_executions.jsonl        one JSON object per row, columns in schema order
    ...                                   (every table but store_revision, in foreign-key order)
    <archive>/marketbrief.sqlite3         only in a backup of a SQLite store: a hot copy

An archive is a directory, or the same files under one folder inside a `.tar`. Values are
written by column type so they come back exactly on SQLite and PostgreSQL alike: dates as
YYYY-MM-DD, instants as ISO 8601 UTC with microseconds, JSON columns as JSON, floats as
shortest round-trip numbers (non-finite ones as strings), text and integers as they are. Rows
are ordered by primary key, so one database always encodes to the same bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import lzma
import math
import os
import tarfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

import orjson
import sqlalchemy as sa

from marketbrief.errors import InvalidInput
from marketbrief.ops.columns import check_value
from marketbrief.ops.files import fsync_dir, fsync_handle, guarded, opened
from marketbrief.store.schema import ALL_TABLES, UTCDateTime

FORMAT = "marketbrief-archive"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
HOT_COPY = "marketbrief.sqlite3"
# Not archived: the counters, the incident and delivery logs, usage, write tokens in flight.
UNARCHIVED = ("store_revision", "incidents", "deliveries", "store_usage", "batch_guards")
TABLES: tuple[sa.Table, ...] = tuple(t for t in ALL_TABLES if t.name not in UNARCHIVED)
"""The archived tables in foreign-key order (insert in this order, delete in reverse).

Incidents are the service's watch over itself, not its data: a backup leaves them out and a
restore leaves the live ones as they are (an alert about today is not undone by old data).
Deliveries likewise: a restore neither resends a restored report nor forgets what was sent.
Store usage too: it counts what this database was asked, which a restore does not undo."""


class ArchiveError(InvalidInput):
    """The archive is missing, corrupt, truncated or not for this schema; nothing was changed."""


def table_file(table: sa.Table) -> str:
    """The file name of a table inside an archive."""
    return f"{table.name}.jsonl"


# -- values --------------------------------------------------------------------------------------


def encode_row(table: sa.Table, row: Any, absent: frozenset[str] = frozenset()) -> bytes:
    """One row as a JSON line (columns in schema order, values normalised by column type)."""
    mapping = row._mapping if hasattr(row, "_mapping") else row
    out = {
        str(c.name): _encode_value(c, mapping[c.name])
        for c in table.columns
        if c.name not in absent
    }
    return orjson.dumps(out) + b"\n"


def decode_row(
    table: sa.Table, line: bytes, absent: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """A JSON line back into column values ready for an INSERT; ArchiveError if it does not fit.

    `absent` names columns an older archive does not have: they are left to their defaults.
    """
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise ArchiveError(f"{table_file(table)}: a line is not JSON ({error})") from None
    columns = [c for c in table.columns if c.name not in absent]
    if not isinstance(raw, dict) or set(raw) != {c.name for c in columns}:
        raise ArchiveError(f"{table_file(table)}: a row does not have the columns of {table.name}")
    try:
        decoded = {c.name: _decode_value(c, raw[c.name]) for c in columns}
        for c in columns:
            check_value(table, c, decoded[c.name])
        return decoded
    except (TypeError, ValueError) as error:
        raise ArchiveError(f"{table_file(table)}: a value does not fit ({error})") from None


def _encode_value(column: sa.Column[Any], value: Any) -> Any:
    if value is None:
        return None
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(kind, sa.Date):
        return value.isoformat()
    if isinstance(kind, sa.Float):
        number = float(value)
        # JSON has no NaN or infinity; keep them as the strings float() reads back.
        return number if math.isfinite(number) else repr(number)
    return value


def _decode_value(column: sa.Column[Any], value: Any) -> Any:
    if value is None:
        return None
    kind = column.type
    if isinstance(kind, UTCDateTime):
        instant = datetime.fromisoformat(value)
        if instant.tzinfo is None:
            raise ValueError(f"{column.name}: instant {value!r} has no offset")
        return instant.astimezone(UTC)
    if isinstance(kind, sa.Date):
        return date.fromisoformat(value)
    if isinstance(kind, sa.Float):
        return float(value)
    return value


# -- manifest ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """One file of an archive as the manifest describes it."""

    name: str
    bytes: int
    sha256: str
    rows: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        entry: dict[str, Any] = {"file": self.name, "bytes": self.bytes, "sha256": self.sha256}
        if self.rows is not None:
            entry["rows"] = self.rows
        return entry


@dataclass(frozen=True, slots=True)
class Manifest:
    """What an archive holds; the checksums make any change to a file visible."""

    schema_revision: str
    source_dialect: str
    created_at: str
    store_revision: int
    tables: dict[str, Entry]
    extras: dict[str, Entry]

    def as_dict(self) -> dict[str, Any]:
        """The manifest.json contents."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": self.created_at,
            "schema_revision": self.schema_revision,
            "source_dialect": self.source_dialect,
            "store_revision": self.store_revision,
            "tables": {name: entry.as_dict() for name, entry in self.tables.items()},
            "files": {name: entry.as_dict() for name, entry in self.extras.items()},
        }

    @classmethod
    def parse(cls, data: bytes) -> Manifest:
        """Read manifest.json, or raise ArchiveError saying what is wrong with it."""
        try:
            raw = orjson.loads(data)
            if raw.get("format") != FORMAT or raw.get("format_version") != FORMAT_VERSION:
                raise ArchiveError(f"{MANIFEST} is not a {FORMAT} version {FORMAT_VERSION}")
            tables = {n: _entry(e, rows=True) for n, e in raw["tables"].items()}
            extras = {n: _entry(e, rows=False) for n, e in raw.get("files", {}).items()}
            manifest = cls(
                schema_revision=str(raw["schema_revision"]),
                source_dialect=str(raw["source_dialect"]),
                created_at=str(raw["created_at"]),
                store_revision=int(raw["store_revision"]),
                tables=tables,
                extras=extras,
            )
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
            raise ArchiveError(f"{MANIFEST} is unreadable or incomplete") from None
        expected = {t.name for t in TABLES}
        if set(manifest.tables) != expected:
            missing = sorted(expected - set(manifest.tables))
            extra = sorted(set(manifest.tables) - expected)
            raise ArchiveError(f"{MANIFEST} lists other tables (missing {missing}, extra {extra})")
        return manifest


def _entry(raw: dict[str, Any], *, rows: bool) -> Entry:
    name = str(raw["file"])
    if "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"bad file name {name!r}")
    return Entry(name, int(raw["bytes"]), str(raw["sha256"]), int(raw["rows"]) if rows else None)


# -- writing -------------------------------------------------------------------------------------


class ArchiveWriter:
    """Writes an archive into a staging folder, then publishes it whole (a folder or a .tar)."""

    def __init__(self, destination: Path) -> None:
        self.destination = destination
        self.as_tar = destination.suffix == ".tar"
        if destination.exists():
            raise ArchiveError(f"{destination} already exists; choose another --output")
        self.staging = destination.with_name(f".{destination.name}.partial")
        guarded(lambda: self.staging.mkdir(parents=True, exist_ok=False), self.staging)
        self.entries: dict[str, Entry] = {}

    def write_table(self, table: sa.Table, rows: Iterable[Any]) -> Entry:
        """Encode every row of a table to its file; returns the manifest entry."""
        name = table_file(table)
        digest, size, count = hashlib.sha256(), 0, 0
        path = self.staging / name
        with opened(path, "wb") as out:
            for row in rows:
                line = encode_row(table, row)
                digest.update(line)
                size += len(line)
                count += 1
                guarded(lambda line=line: out.write(line), path)
            fsync_handle(out, path)
        entry = Entry(name, size, digest.hexdigest(), count)
        self.entries[str(table.name)] = entry
        return entry

    def file_path(self, name: str) -> Path:
        """Where an extra file (the hot copy) is to be written inside the staging folder."""
        return self.staging / name

    def finish(self, manifest: Manifest) -> Path:
        """Write the manifest and publish the archive atomically; returns its path."""
        path = self.staging / MANIFEST
        with opened(path, "wb") as out:
            guarded(
                lambda: out.write(orjson.dumps(manifest.as_dict(), option=orjson.OPT_INDENT_2)),
                path,
            )
            fsync_handle(out, path)
        if self.as_tar:
            partial = self.destination.with_name(f".{self.destination.name}.partial.tar")
            try:
                guarded(lambda: self._tar_into(partial), partial)
                guarded(lambda: os.replace(partial, self.destination), self.destination)
            finally:
                partial.unlink(missing_ok=True)
            self.discard()
        else:
            guarded(lambda: os.replace(self.staging, self.destination), self.destination)
        fsync_dir(self.destination.parent)
        return self.destination

    def _tar_into(self, path: Path) -> None:
        """Every staged file under one folder named after the archive, on disk when it returns."""
        with path.open("wb") as out:
            with tarfile.open(fileobj=out, mode="w") as tar:
                for member in sorted(self.staging.iterdir()):
                    tar.add(member, arcname=f"{self.destination.stem}/{member.name}")
            out.flush()
            os.fsync(out.fileno())

    def discard(self) -> None:
        """Remove the staging folder (after success or failure)."""
        with contextlib.suppress(OSError):
            if self.staging.exists():
                for member in self.staging.iterdir():
                    member.unlink()
                self.staging.rmdir()


# -- reading -------------------------------------------------------------------------------------


class Archive:
    """A verified archive: every file's checksum and row count matched its manifest."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            raise ArchiveError(f"{path} does not exist")
        self._tar = _open_tar(path) if path.is_file() else None
        self._members: dict[str, tarfile.TarInfo] = {}
        try:
            with _unreadable_is_corrupt(path):
                if self._tar is not None:
                    for member in self._tar.getmembers():
                        if member.isfile():
                            self._members[member.name.rsplit("/", 1)[-1]] = member
                self.manifest = Manifest.parse(self._read(MANIFEST))
                self._verify()
        except BaseException:
            self.close()
            raise

    def _verify(self) -> None:
        problems: list[str] = []
        for entry in [*self.manifest.tables.values(), *self.manifest.extras.values()]:
            try:
                size, digest, lines = _measure(self._open(entry.name))
            except ArchiveError as error:
                problems.append(str(error))
                continue
            if entry.rows is not None and lines != entry.rows:
                problems.append(f"{entry.name} has {lines} rows, the manifest says {entry.rows}")
            if size != entry.bytes:
                problems.append(f"{entry.name} has {size} bytes, the manifest says {entry.bytes}")
            if digest != entry.sha256:
                problems.append(f"{entry.name}: SHA-256 does not match the manifest")
        if problems:
            raise ArchiveError(
                f"archive {self.path} is corrupt or truncated; nothing was changed: "
                + "; ".join(problems)
            )

    def rows(
        self, table: sa.Table, absent: frozenset[str] = frozenset()
    ) -> Iterator[dict[str, Any]]:
        """Decoded rows of one table, in archive order (without the `absent` columns)."""
        with (
            _unreadable_is_corrupt(self.path),
            self._open(self.manifest.tables[str(table.name)].name) as stream,
        ):
            for line in stream:
                yield decode_row(table, line, absent)

    def close(self) -> None:
        """Close the tar file, if any."""
        if self._tar is not None:
            self._tar.close()

    def _read(self, name: str) -> bytes:
        with self._open(name) as stream:
            return stream.read()

    def _open(self, name: str) -> IO[bytes]:
        if self._tar is None:
            try:
                return (self.path / name).open("rb")
            except OSError:
                raise ArchiveError(f"archive {self.path} has no readable {name}") from None
        member = self._members.get(name)
        stream = self._tar.extractfile(member) if member is not None else None
        if stream is None:
            raise ArchiveError(f"archive {self.path} has no {name}")
        return stream


@contextlib.contextmanager
def _unreadable_is_corrupt(path: Path) -> Iterator[None]:
    """A tar or gzip stream that ends early or is damaged: an ArchiveError, never a trace."""
    try:
        yield
    except (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as error:
        raise ArchiveError(
            f"archive {path} is truncated or corrupt; nothing was changed ({error})"
        ) from None


def _open_tar(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, mode="r:*")
    except (tarfile.TarError, OSError) as error:
        raise ArchiveError(
            f"{path} is neither an archive folder nor a readable tar: {error}"
        ) from None


def _measure(stream: IO[bytes]) -> tuple[int, str, int]:
    digest, size, lines = hashlib.sha256(), 0, 0
    try:
        with stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
                lines += chunk.count(b"\n")
    except (OSError, tarfile.TarError) as error:
        raise ArchiveError(f"cannot read the archive: {error}") from None
    return size, digest.hexdigest(), lines


def sha256_of(path: Path) -> Entry:
    """The manifest entry of an extra file already written into an archive's staging folder."""
    size, digest, _ = _measure(opened(path, "rb"))
    return Entry(path.name, size, digest)
