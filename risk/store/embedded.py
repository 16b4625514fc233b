"""Embedded store: Parquet segments for data, a SQLite catalog for what is committed. No server needed.

Layout under the store directory::

    catalog.sqlite              which segment files make up each table; batches; snapshots; sequences
    tables/<table>/<uuid>.parquet
    snapshots/<snapshot_id>/<table>.parquet

A write first puts complete Parquet files on disk under fresh names, then records them in the catalog in
one SQLite transaction: that commit is the only moment the data becomes visible, so a crash at any point
leaves either the old state or the new one, and orphan files are collected later. SQLite in WAL mode lets
an API process read while a command-line process writes. Replaced segments are deleted only after a grace
period, so a reader that listed them a moment ago can still open them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from risk.store.base import (
    GENESIS,
    BatchInfo,
    Filter,
    Frame,
    Mode,
    SnapshotInfo,
    StoreError,
    as_utc,
    chain_audit,
    check_balanced,
    check_filters,
    dump_json,
    table_spec,
    to_arrow,
    to_frame,
    utcnow,
)
from risk.store.tables import TableSpec

SCHEMA_VERSION = 1
GRACE_SECONDS = 120.0

_CATALOG = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segments (
    file TEXT PRIMARY KEY, table_name TEXT NOT NULL, rows INTEGER NOT NULL, seq INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS segments_table ON segments (table_name, seq);
CREATE TABLE IF NOT EXISTS garbage (path TEXT PRIMARY KEY, since REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sequences (name TEXT PRIMARY KEY, next INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    batch_id INTEGER PRIMARY KEY, content_sha256 TEXT NOT NULL UNIQUE, source TEXT NOT NULL,
    kind TEXT NOT NULL, file_name TEXT NOT NULL, rows_in INTEGER NOT NULL, accepted INTEGER NOT NULL,
    corrected INTEGER NOT NULL, quarantined INTEGER NOT NULL, duplicates INTEGER NOT NULL,
    committed_at TEXT NOT NULL, report TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS snapshots (
    snapshot_id INTEGER PRIMARY KEY AUTOINCREMENT, status TEXT NOT NULL, as_of TEXT NOT NULL,
    profile TEXT NOT NULL, profile_version TEXT NOT NULL, input_watermark INTEGER NOT NULL,
    created_at TEXT NOT NULL, parent_id INTEGER, stats TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS current_snapshot (
    id INTEGER PRIMARY KEY CHECK (id = 1), snapshot_id INTEGER NOT NULL REFERENCES snapshots);
"""


class EmbeddedStore:
    """A store in a local directory (see the module docstring for how it stays consistent)."""

    backend = "embedded"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "tables").mkdir(exist_ok=True)
        (self.path / "snapshots").mkdir(exist_ok=True)
        self._db_path = self.path / "catalog.sqlite"
        self.migrate()

    # -- lifecycle ------------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self._db_path, timeout=60, isolation_level=None, check_same_thread=False)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("PRAGMA foreign_keys=ON")
        return con

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        con = self._connect()
        try:
            yield con
        finally:
            con.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE serialises writers across processes."""
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    def migrate(self) -> None:
        with self._write() as con:
            for stmt in _CATALOG.strip().split(";"):
                if stmt.strip():
                    con.execute(stmt)
            row = con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                con.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"store at {self.path} has schema version {row[0]}, newer than this riskmap "
                    f"({SCHEMA_VERSION}); upgrade riskmap"
                )
            # Snapshots left half-written by a crash are never visible; remove them once past the grace
            # period (younger ones may belong to a writer in another process, still at work).
            cutoff = dt.datetime.fromtimestamp(time.time() - GRACE_SECONDS, dt.UTC).isoformat()
            stale = [
                r[0]
                for r in con.execute(
                    "SELECT snapshot_id FROM snapshots WHERE status='writing' AND created_at < ?", (cutoff,)
                )
            ]
            con.executemany("DELETE FROM snapshots WHERE snapshot_id=?", [(sid,) for sid in stale])
        for sid in stale:
            shutil.rmtree(self._snapshot_dir(sid), ignore_errors=True)
        self._collect_garbage()

    def close(self) -> None:  # connections are per call
        return None

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """A named lock across the processes using this store (an exclusive `flock` on a lock file)."""
        import fcntl

        folder = self.path / "locks"
        folder.mkdir(exist_ok=True)
        with open(folder / f"{name}.lock", "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self.path)!r})"

    # -- files ----------------------------------------------------------------------------------------

    def _table_dir(self, name: str) -> Path:
        d = self.path / "tables" / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    def _snapshot_dir(self, snapshot_id: int) -> Path:
        return self.path / "snapshots" / f"{snapshot_id:08d}"

    @staticmethod
    def _write_parquet(table: pa.Table, path: Path) -> None:
        tmp = path.with_name(path.name + ".tmp")
        pq.write_table(table, tmp, compression="zstd", row_group_size=256_000)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def _collect_garbage(self) -> None:
        """Delete replaced segments past their grace period, and orphans of crashed writers."""
        now = time.time()
        with self._write() as con:
            due = [
                r[0] for r in con.execute("SELECT path FROM garbage WHERE since < ?", (now - GRACE_SECONDS,))
            ]
            con.execute("DELETE FROM garbage WHERE since < ?", (now - GRACE_SECONDS,))
            live = {r[0] for r in con.execute("SELECT file FROM segments")}
            pending = {r[0] for r in con.execute("SELECT path FROM garbage")}
            # Orphans: files no catalog row names, older than the grace period (a writer may be about to
            # commit them). Deleted while holding the catalog lock, so none can become live meanwhile; a
            # writer that finds its staged files gone fails instead of committing them (see _commit).
            for f in (self.path / "tables").glob("*/*"):
                rel = str(f.relative_to(self.path))
                if rel not in live and rel not in pending:
                    _unlink_if_older(f, now - GRACE_SECONDS)
        for rel in due:
            with contextlib.suppress(FileNotFoundError):
                (self.path / rel).unlink()

    # -- tables ---------------------------------------------------------------------------------------

    def write_tables(self, tables: Mapping[str, Frame], *, mode: Mode = "append") -> None:
        self._commit(tables, mode=mode)

    def _commit(
        self,
        tables: Mapping[str, Frame],
        *,
        mode: Mode,
        batch: BatchInfo | None = None,
    ) -> BatchInfo | None:
        if mode not in ("append", "replace"):
            raise StoreError(f"unknown write mode {mode!r}")

        def stage(name: str, data: Frame) -> tuple[TableSpec, str, int] | None:
            t = table_spec(name, snapshot=False)
            arrow = to_arrow(t, data)
            rel = f"tables/{name}/{uuid.uuid4().hex}.parquet"
            if not (arrow.num_rows or mode == "replace"):
                return None
            self._table_dir(name)
            self._write_parquet(arrow, self.path / rel)
            return t, rel, arrow.num_rows

        if len(tables) > 1:  # side by side: Parquet encoding and compression release the GIL
            with ThreadPoolExecutor(len(tables)) as pool:
                done = list(pool.map(lambda item: stage(*item), tables.items()))
        else:
            done = [stage(name, data) for name, data in tables.items()]
        staged = [s for s in done if s is not None]
        existing: BatchInfo | None = None
        with self._write() as con:
            if batch is not None:
                existing = self._find_batch(con, batch.content_sha256)
                if existing is None:
                    self._insert_batch(con, batch)
            if existing is None:
                gone = [rel for _, rel, _ in staged if not (self.path / rel).exists()]
                if gone:
                    raise StoreError(f"staged files {gone} were collected before commit; write again")
                seq = con.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM segments").fetchone()[0]
                now = time.time()
                for t, rel, rows in staged:
                    if mode == "replace":
                        old = [
                            r[0]
                            for r in con.execute("SELECT file FROM segments WHERE table_name=?", (t.name,))
                        ]
                        con.execute("DELETE FROM segments WHERE table_name=?", (t.name,))
                        con.executemany(
                            "INSERT OR REPLACE INTO garbage VALUES (?, ?)", [(o, now) for o in old]
                        )
                    con.execute("INSERT INTO segments VALUES (?,?,?,?)", (rel, t.name, rows, seq))
        if existing is not None:  # idempotent: the batch was already there; drop what we staged
            for _, rel, _ in staged:
                with contextlib.suppress(FileNotFoundError):
                    (self.path / rel).unlink()
            return existing
        return None

    @staticmethod
    def _insert_batch(con: sqlite3.Connection, batch: BatchInfo) -> None:
        assert batch.committed_at is not None
        try:
            con.execute(
                "INSERT INTO batches VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    batch.batch_id,
                    batch.content_sha256,
                    batch.source,
                    batch.kind,
                    batch.file_name,
                    batch.rows_in,
                    batch.accepted,
                    batch.corrected,
                    batch.quarantined,
                    batch.duplicates,
                    batch.committed_at.isoformat(),
                    dump_json(batch.report),
                ),
            )
        except sqlite3.IntegrityError as exc:  # same batch_id, other content
            raise StoreError(f"batch {batch.file_name}: batch id {batch.batch_id} is taken: {exc}") from exc

    def compact(self, table: str, *, small_rows: int = 250_000, min_segments: int = 8) -> int:
        """Merge a table's small segments into one, so that reads open a few files instead of hundreds
        (every ingested file adds one segment per table). Readers see the same rows before and after:
        the merged file replaces exactly the segments it was made from, in one catalog transaction, and
        those are deleted only after the grace period. Returns the number of segments merged (0 when
        fewer than `min_segments` were small)."""
        t = table_spec(table, snapshot=False)
        with self._read() as con:
            rows = con.execute(
                "SELECT file FROM segments WHERE table_name=? AND rows < ? ORDER BY seq, file",
                (table, small_rows),
            ).fetchall()
        small = [r[0] for r in rows]
        if len(small) < min_segments:
            return 0
        try:
            data = self._dataset(t, [self.path / f for f in small]).to_table()
        except FileNotFoundError:  # a concurrent compaction got there first
            return 0
        rel = f"tables/{table}/{uuid.uuid4().hex}.parquet"
        self._table_dir(table)
        self._write_parquet(data, self.path / rel)
        now = time.time()
        with self._write() as con:
            live = {
                r[0]
                for r in con.execute(
                    f"SELECT file FROM segments WHERE file IN ({','.join('?' * len(small))})", small
                )
            }
            if live != set(small):  # changed meanwhile: leave it for the next compaction
                with contextlib.suppress(FileNotFoundError):
                    (self.path / rel).unlink()
                return 0
            seq = con.execute(
                f"SELECT MIN(seq) FROM segments WHERE file IN ({','.join('?' * len(small))})", small
            ).fetchone()[0]
            con.executemany("DELETE FROM segments WHERE file=?", [(f,) for f in small])
            con.executemany("INSERT OR REPLACE INTO garbage VALUES (?, ?)", [(f, now) for f in small])
            con.execute("INSERT INTO segments VALUES (?,?,?,?)", (rel, table, data.num_rows, seq))
        return len(small)

    def _segments(self, name: str) -> list[str]:
        with self._read() as con:
            return [
                r[0]
                for r in con.execute(
                    "SELECT file FROM segments WHERE table_name=? ORDER BY seq, file", (name,)
                )
            ]

    def _dataset(self, t: TableSpec, files: list[Path]) -> ds.Dataset:
        return ds.dataset([str(f) for f in files], schema=t.schema, format="parquet")

    def _read_files(
        self,
        t: TableSpec,
        files: list[Path],
        columns: Sequence[str] | None,
        filters: Iterable[Filter],
    ) -> pa.Table:
        flts = check_filters(t, filters)
        cols = list(columns) if columns is not None else t.columns
        unknown = [c for c in cols if c not in t.columns]
        if unknown:
            raise StoreError(f"table {t.name}: no columns {unknown}")
        if not files:
            return t.schema.empty_table().select(cols)
        expr = _expression(t, flts)
        return self._dataset(t, files).to_table(columns=cols, filter=expr)

    def read_table(
        self, table: str, *, columns: Sequence[str] | None = None, filters: Iterable[Filter] = ()
    ) -> pd.DataFrame:
        return to_frame(
            table_spec(table, snapshot=False), self.read_arrow(table, columns=columns, filters=filters)
        )

    def read_arrow(
        self, table: str, *, columns: Sequence[str] | None = None, filters: Iterable[Filter] = ()
    ) -> pa.Table:
        t = table_spec(table, snapshot=False)
        filters = list(filters)
        for attempt in range(3):  # a concurrent replace may collect a file we just listed
            files = [self.path / f for f in self._segments(table)]
            try:
                return self._read_files(t, files, columns, filters)
            except FileNotFoundError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def count(self, table: str, *, filters: Iterable[Filter] = ()) -> int:
        t = table_spec(table, snapshot=False)
        filters = check_filters(t, filters)  # checked even when there is nothing to filter
        if not filters:
            with self._read() as con:
                return int(
                    con.execute(
                        "SELECT COALESCE(SUM(rows),0) FROM segments WHERE table_name=?", (table,)
                    ).fetchone()[0]
                )
        files = [self.path / f for f in self._segments(table)]
        if not files:
            return 0
        return self._dataset(t, files).count_rows(filter=_expression(t, filters))

    # -- in-place changes (retention) -----------------------------------------------------------------

    def redact_rows(self, table: str, filters: Iterable[Filter], columns: Sequence[str]) -> int:
        t = table_spec(table, snapshot=False)
        unknown = [c for c in columns if c not in t.columns]
        if unknown:
            raise StoreError(f"table {table}: no columns {unknown} to redact")

        def redact(data: pa.Table, mask: pa.Array) -> pa.Table:
            for c in columns:
                i = data.schema.get_field_index(c)
                col = data.column(i)
                data = data.set_column(i, c, pc.if_else(mask, pa.nulls(len(data), col.type), col))
            return data

        return self._rewrite(t, filters, redact)

    def delete_rows(self, table: str, filters: Iterable[Filter]) -> int:
        t = table_spec(table, snapshot=False)
        filters = list(filters)
        if not filters:
            raise StoreError(f"delete from {table}: give at least one filter (use replace to empty a table)")
        return self._rewrite(t, filters, lambda data, mask: data.filter(pc.invert(mask)))

    def _rewrite(self, t: TableSpec, filters: Iterable[Filter], change: Any) -> int:
        """Rewrite the segments holding matching rows, and swap them in one catalog transaction (held
        throughout, so no other writer commits meanwhile; new appends land in segments of their own)."""
        flts = check_filters(t, filters)
        expr = _expression(t, flts)
        changed = 0
        staged: list[Path] = []
        try:
            with self._write() as con:
                segs = con.execute(
                    "SELECT file, seq FROM segments WHERE table_name=? ORDER BY seq, file", (t.name,)
                ).fetchall()
                now = time.time()
                for rel, seq in segs:
                    data = pq.read_table(self.path / rel, schema=t.schema)
                    idx = data.append_column("__row", pa.array(np.arange(len(data), dtype=np.int64)))
                    hit = ds.dataset(idx).to_table(columns=["__row"], filter=expr)["__row"]
                    if not len(hit):
                        continue
                    mask = np.zeros(len(data), dtype=bool)
                    mask[hit.to_numpy()] = True
                    changed += int(mask.sum())
                    new = change(data, pa.array(mask))
                    con.execute("DELETE FROM segments WHERE file=?", (rel,))
                    con.execute("INSERT OR REPLACE INTO garbage VALUES (?, ?)", (rel, now))
                    if new.num_rows:
                        new_rel = f"tables/{t.name}/{uuid.uuid4().hex}.parquet"
                        self._write_parquet(new, self.path / new_rel)
                        staged.append(self.path / new_rel)
                        con.execute(
                            "INSERT INTO segments VALUES (?,?,?,?)", (new_rel, t.name, new.num_rows, seq)
                        )
        except BaseException:
            for f in staged:
                with contextlib.suppress(FileNotFoundError):
                    f.unlink()
            raise
        return changed

    # -- the audit log --------------------------------------------------------------------------------

    @staticmethod
    def _audit_head(con: sqlite3.Connection) -> tuple[int, str]:
        row = con.execute("SELECT value FROM meta WHERE key='audit_head'").fetchone()
        if row is None:
            return 0, GENESIS
        seq, h = row[0].split()
        return int(seq), h

    def audit_head(self) -> tuple[int, str]:
        with self._read() as con:
            return self._audit_head(con)

    def append_audit(self, entries: pd.DataFrame) -> pd.DataFrame:
        t = table_spec("audit_log", snapshot=False)
        if not len(entries):
            return to_frame(t, t.schema.empty_table())
        self._table_dir(t.name)
        rel = f"tables/{t.name}/{uuid.uuid4().hex}.parquet"
        try:
            with self._write() as con:  # BEGIN IMMEDIATE: one appender at a time, across processes
                chained = chain_audit(self._audit_head(con), entries)
                arrow = to_arrow(t, chained)
                self._write_parquet(arrow, self.path / rel)
                seq = con.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM segments").fetchone()[0]
                con.execute("INSERT INTO segments VALUES (?,?,?,?)", (rel, t.name, arrow.num_rows, seq))
                last = chained.iloc[-1]
                con.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('audit_head', ?)",
                    (f"{int(last['seq'])} {last['hash']}",),
                )
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                (self.path / rel).unlink()
            raise
        return to_frame(t, arrow)

    # -- sequences ------------------------------------------------------------------------------------

    def next_ids(self, sequence: str, n: int) -> int:
        if n < 0:
            raise StoreError("cannot reserve a negative number of ids")
        with self._write() as con:
            row = con.execute("SELECT next FROM sequences WHERE name=?", (sequence,)).fetchone()
            first = int(row[0]) if row else 1
            con.execute("INSERT OR REPLACE INTO sequences VALUES (?, ?)", (sequence, first + n))
        return first

    # -- batches --------------------------------------------------------------------------------------

    @staticmethod
    def _batch_from_row(row: Sequence[Any]) -> BatchInfo:
        return BatchInfo(
            batch_id=row[0],
            content_sha256=row[1],
            source=row[2],
            kind=row[3],
            file_name=row[4],
            rows_in=row[5],
            accepted=row[6],
            corrected=row[7],
            quarantined=row[8],
            duplicates=row[9],
            committed_at=dt.datetime.fromisoformat(row[10]),
            report=json.loads(row[11]),
        )

    def _find_batch(self, con: sqlite3.Connection, sha: str) -> BatchInfo | None:
        row = con.execute("SELECT * FROM batches WHERE content_sha256=?", (sha,)).fetchone()
        return self._batch_from_row(row) if row else None

    def find_batch(self, content_sha256: str) -> BatchInfo | None:
        with self._read() as con:
            return self._find_batch(con, content_sha256)

    def commit_batch(self, batch: BatchInfo, tables: Mapping[str, Frame]) -> BatchInfo:
        check_balanced(batch)
        bid = batch.batch_id if batch.batch_id is not None else self.next_ids("batch", 1)
        final = batch.with_id(bid, utcnow())
        existing = self._commit(tables, mode="append", batch=final)
        return existing if existing is not None else final

    def list_batches(self, *, source: str | None = None) -> list[BatchInfo]:
        with self._read() as con:
            if source is None:
                rows = con.execute("SELECT * FROM batches ORDER BY batch_id").fetchall()
            else:
                rows = con.execute(
                    "SELECT * FROM batches WHERE source=? ORDER BY batch_id", (source,)
                ).fetchall()
        return [self._batch_from_row(r) for r in rows]

    # -- snapshots ------------------------------------------------------------------------------------

    @staticmethod
    def _snapshot_from_row(row: Sequence[Any]) -> SnapshotInfo:
        return SnapshotInfo(
            snapshot_id=row[0],
            as_of=dt.datetime.fromisoformat(row[2]),
            profile=row[3],
            profile_version=row[4],
            input_watermark=row[5],
            created_at=dt.datetime.fromisoformat(row[6]),
            parent_id=row[7],
            stats=json.loads(row[8]),
        )

    def write_snapshot(self, info: SnapshotInfo, tables: Mapping[str, Frame]) -> SnapshotInfo:
        specs = {name: table_spec(name, snapshot=True) for name in tables}
        created = utcnow()
        with self._write() as con:
            cur = con.execute(
                "INSERT INTO snapshots (status, as_of, profile, profile_version, input_watermark, created_at,"
                " parent_id, stats) VALUES ('writing',?,?,?,?,?,?,?)",
                (
                    _iso(info.as_of),
                    info.profile,
                    info.profile_version,
                    info.input_watermark,
                    created.isoformat(),
                    info.parent_id,
                    dump_json(info.stats),
                ),
            )
            sid = int(cur.lastrowid)
        d = self._snapshot_dir(sid)
        try:
            d.mkdir(parents=True, exist_ok=True)

            def write(name: str, data: Frame) -> None:
                t = specs[name]
                frame = data
                if isinstance(frame, pd.DataFrame):
                    frame = frame.assign(snapshot_id=sid)
                else:
                    frame = (
                        frame.drop_columns(["snapshot_id"]) if "snapshot_id" in frame.column_names else frame
                    )
                    frame = frame.append_column(
                        "snapshot_id", pa.array(np.full(frame.num_rows, sid, dtype=np.int64))
                    )
                self._write_parquet(to_arrow(t, frame), d / f"{name}.parquet")

            if len(tables) > 1:  # side by side: Parquet encoding and compression release the GIL
                with ThreadPoolExecutor(len(tables)) as pool:
                    for f in [pool.submit(write, n, data) for n, data in tables.items()]:
                        f.result()
            else:
                for name, data in tables.items():
                    write(name, data)
            with self._write() as con:
                done = con.execute(
                    "UPDATE snapshots SET status='ready' WHERE snapshot_id=? AND status='writing'", (sid,)
                )
                if done.rowcount != 1:
                    raise StoreError(f"snapshot {sid} was collected as abandoned while being written")
        except BaseException:
            with contextlib.suppress(Exception), self._write() as con:
                con.execute("DELETE FROM snapshots WHERE snapshot_id=?", (sid,))
            shutil.rmtree(d, ignore_errors=True)
            raise
        return self.get_snapshot(sid)

    def publish_snapshot(self, snapshot_id: int) -> None:
        with self._write() as con:
            row = con.execute("SELECT status FROM snapshots WHERE snapshot_id=?", (snapshot_id,)).fetchone()
            if row is None or row[0] != "ready":
                raise StoreError(f"snapshot {snapshot_id} does not exist or is not complete")
            con.execute("INSERT OR REPLACE INTO current_snapshot VALUES (1, ?)", (snapshot_id,))

    def current_snapshot(self) -> SnapshotInfo | None:
        with self._read() as con:
            row = con.execute(
                "SELECT s.* FROM current_snapshot c JOIN snapshots s USING (snapshot_id)"
            ).fetchone()
        return self._snapshot_from_row(row) if row else None

    def get_snapshot(self, snapshot_id: int) -> SnapshotInfo:
        with self._read() as con:
            row = con.execute(
                "SELECT * FROM snapshots WHERE snapshot_id=? AND status='ready'", (snapshot_id,)
            ).fetchone()
        if row is None:
            raise StoreError(f"no snapshot {snapshot_id}")
        return self._snapshot_from_row(row)

    def list_snapshots(self) -> list[SnapshotInfo]:
        with self._read() as con:
            rows = con.execute("SELECT * FROM snapshots WHERE status='ready' ORDER BY snapshot_id").fetchall()
        return [self._snapshot_from_row(r) for r in rows]

    def read_snapshot(
        self,
        snapshot_id: int,
        table: str,
        *,
        columns: Sequence[str] | None = None,
        filters: Iterable[Filter] = (),
    ) -> pd.DataFrame:
        t = table_spec(table, snapshot=True)
        self.get_snapshot(snapshot_id)
        f = self._snapshot_dir(snapshot_id) / f"{table}.parquet"
        files = [f] if f.exists() else []
        return to_frame(t, self._read_files(t, files, columns, filters))


def _unlink_if_older(path: Path, cutoff: float) -> None:
    with contextlib.suppress(FileNotFoundError):
        if path.stat().st_mtime < cutoff:
            path.unlink()


def _iso(value: dt.datetime | dt.date) -> str:
    return as_utc(value).isoformat()


def _expression(t: TableSpec, filters: list[Filter]) -> pc.Expression | None:
    expr: pc.Expression | None = None
    for col, op, value in filters:
        typ = t.schema.field(col).type
        field = pc.field(col)
        if op == "is null":
            e = field.is_null()
        elif op == "not null":
            e = field.is_valid()
        elif op == "in":
            e = field.isin(pa.array(value, type=typ))
        elif op == "not in":  # like "!=", never matches null
            e = ~field.isin(pa.array(value, type=typ)) & field.is_valid()
        else:
            s = pa.scalar(value, type=typ)
            e = {
                "=": field == s,
                "!=": field != s,
                "<": field < s,
                "<=": field <= s,
                ">": field > s,
                ">=": field >= s,
            }[op]
        expr = e if expr is None else expr & e
    return expr
