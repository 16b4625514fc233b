"""PostGIS store: the contract of `risk.store.base` on PostgreSQL 15+ with PostGIS 3, via psycopg 3.

- **Schema.** Numbered SQL migrations in `risk/store/migrations/` create one PostgreSQL schema holding
  every table of `tables.py` (a test compares them column by column). Text is `COLLATE "C"` so that
  comparisons and sorting follow code points, as Arrow does in the embedded store. A geometry column is
  `geometry(<kind>, 4326)` plus a generated `geom_3857` column for tiles, both with GiST indexes.
  uint64 H3 cells are stored as `bigint` with the same 64 bits (real cells are below 2^63, so SQL sees
  the cell itself); filters on them keep unsigned order.
- **Loads** go through `COPY … FROM STDIN` in CSV that Arrow writes (C++, column at a time); geometry
  travels as hex EWKB with SRID 4326. A big load into an empty table builds its indexes afterwards.
  **Reads** go through `COPY (SELECT …) TO STDOUT` in CSV that Arrow parses with explicit types;
  dates, times and geometries are sent as integers and hex so that no server setting (DateStyle,
  TimeZone) changes what comes back.
- **Atomicity** is PostgreSQL's: every write is one transaction. `replace` is DELETE (not TRUNCATE)
  plus load, so readers keep seeing the old rows until commit instead of queueing behind a lock.
- **Snapshots.** Each snapshot table is partitioned `BY LIST (snapshot_id)`; a snapshot is written into
  fresh standalone tables that are attached as partitions in the same transaction as its `snapshots`
  row, so it appears complete or not at all, readers are never blocked (attaching takes SHARE UPDATE
  EXCLUSIVE on the parent), reading one snapshot touches one partition, and dropping an old snapshot
  later is a `DROP TABLE`, not a mass DELETE. A trigger refuses UPDATE and DELETE of snapshot rows.
  `current_snapshot` is a one-row table switched by one UPSERT.
- **Connections** come from a `psycopg_pool.ConnectionPool` with the timeouts of `StoreSettings`;
  session settings travel as connection options (a `configure` callback would leave connections in a
  transaction). An unreachable server raises `StoreUnavailable` within about `connect_timeout_s`; the
  pool reconnects by itself when the server returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import math
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import shapely
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.copy import QueuedLibpqWriter
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from risk.store.base import (
    BatchInfo,
    Filter,
    Frame,
    Mode,
    SnapshotInfo,
    StoreError,
    StoreUnavailable,
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
from risk.store.settings import StoreSettings
from risk.store.tables import TableSpec
from risk.store.tilesql import TileQuery, tile_sql

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 0x7269736B6D6170  # pg_advisory_lock key ("riskmap"): one migrator per database at a time
BOOKKEEPING_TABLES = (
    "schema_migrations",
    "batches",
    "snapshots",
    "current_snapshot",
    "id_sequences",
    "audit_head",
    "province_extents",
)
BULK_ROWS = 200_000  # from this many rows into an empty table, indexes are built after the load
COPY_ROWS = 500_000  # rows per COPY statement: bounds statement time
CSV_ROWS = 50_000  # rows per CSV piece written to a COPY: bounds memory
READ_CHUNK_BYTES = 32 << 20  # CSV bytes parsed at once while reading
RECONNECT_WINDOW_S = 4.0  # pool retries (backing off) this long, then at once on the next request

# Session settings of tile statements: they take milliseconds, so JIT compilation costs more than it
# saves; and the rows of one tile are few and found by a spatial index, so each is joined to its level by
# an index probe: a hash join would first read every level of the unit type (measured: 3× slower).
TILE_SETTINGS = {"jit": "off", "enable_hashjoin": "off", "enable_mergejoin": "off"}

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_MIGRATION_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
_U64_HALF = 1 << 63


# ---------------------------------------------------------------------------------------------------------
# column types


def pg_type(t: TableSpec, f: pa.Field) -> str:
    """The PostgreSQL type of a column, spelled as `format_type()` prints it."""
    if f.name == t.geometry:
        return f"geometry({t.geometry_type},4326)"
    typ = f.type
    if pa.types.is_string(typ):
        return "text"
    if typ in (pa.int8(), pa.int16()):
        return "smallint"
    if typ == pa.int32():
        return "integer"
    if typ in (pa.int64(), pa.uint64()):
        return "bigint"
    if typ == pa.float32():
        return "real"
    if typ == pa.float64():
        return "double precision"
    if pa.types.is_boolean(typ):
        return "boolean"
    if pa.types.is_date32(typ):
        return "date"
    if pa.types.is_timestamp(typ) and typ.tz in ("UTC", "+00:00"):
        return "timestamp with time zone"
    if pa.types.is_binary(typ):
        return "bytea"
    raise StoreError(f"table {t.name}, column {f.name!r}: no PostgreSQL type for {typ}")


def column_ddl(t: TableSpec, f: pa.Field) -> str:
    """One column as a migration declares it (see the conventions atop 0001_init.sql)."""
    typ = pg_type(t, f).replace(",4326", ", 4326")
    coll = ' COLLATE "C"' if typ == "text" else ""
    not_null = " NOT NULL" if t.snapshot and f.name == "snapshot_id" else ""
    return f"{f.name} {typ}{coll}{not_null}"


MERCATOR_LAT = 85.0511287798066  # Web Mercator's latitude limit
MERCATOR_HALF = 20037508.342789244  # half the Web Mercator world's width, in metres
# The boxes of the provinces' households, read by tile statements to name the partitions a household tile
# needs; kept per store object this long (writes through the same object drop them at once).
PROVINCE_BOXES = "SELECT province, ST_XMin(extent), ST_YMin(extent), ST_XMax(extent), ST_YMax(extent) FROM province_extents"
PROVINCE_BOXES_TTL_S = 5.0


def point_3857_ddl(lon: str, lat: str) -> str:
    """The generated `geom_3857` point of a table with lon/lat columns (see `TableSpec.points`).

    Spherical Web Mercator written out (as `geo.tiles.to_mercator` computes it, so both tile backends
    place points alike); coordinates outside Mercator's range give NULL rather than an error.
    """
    return (
        f"geom_3857 geometry(Point, 3857) GENERATED ALWAYS AS (CASE WHEN {lon} BETWEEN -180 AND 180"
        f" AND {lat} BETWEEN -{MERCATOR_LAT} AND {MERCATOR_LAT} THEN ST_SetSRID(ST_MakePoint("
        f"{lon} * 20037508.342789244 / 180, ln(tan(pi() / 4 + radians({lat}) / 2)) * 6378137), 3857)"
        " END) STORED"
    )


def partition_name(table: str, value: str) -> str:
    """The partition of `table` holding `value` (`households_p79`); other values by a short hash."""
    if re.fullmatch(r"[A-Za-z0-9_]{1,30}", value):
        return f"{table}_p{value}"
    return f"{table}_h{hashlib.sha256(value.encode()).hexdigest()[:16]}"


def table_ddl(t: TableSpec) -> str:
    """The SQL a migration needs to create a table of `tables.py` (printed by the schema test)."""
    cols = [f"    {column_ddl(t, f)}" for f in t.schema]
    if t.geometry:
        cols.append(
            f"    geom_3857 geometry({t.geometry_type}, 3857)"
            f" GENERATED ALWAYS AS (ST_Transform({t.geometry}, 3857)) STORED"
        )
    if t.points:
        cols.append(f"    {point_3857_ddl(*t.points)}")
    tail = " PARTITION BY LIST (snapshot_id)" if t.snapshot else ""
    if t.partition_by:
        tail = f" PARTITION BY LIST ({t.partition_by})"
    lines = [f"CREATE TABLE {t.name} (\n" + ",\n".join(cols) + f"\n){tail};"]
    if t.partition_by:
        lines.append(f"CREATE TABLE {t.name}_default PARTITION OF {t.name} DEFAULT;")
    for cols_ in _btree_indexes(t):
        lines.append(f"CREATE INDEX {_index_name(t.name, cols_)} ON {t.name} ({', '.join(cols_)});")
    if t.geometry:
        for g in (t.geometry, "geom_3857"):
            lines.append(f"CREATE INDEX {t.name}_{g}_gist ON {t.name} USING gist ({g});")
    if t.points:
        lines.append(f"CREATE INDEX {t.name}_geom_3857_gist ON {t.name} USING gist (geom_3857);")
    if t.snapshot:
        lines.append(
            f"CREATE TRIGGER {t.name}_immutable BEFORE UPDATE OR DELETE ON {t.name}\n"
            "    FOR EACH ROW EXECUTE FUNCTION snapshot_rows_are_immutable();"
        )
    return "\n".join(lines)


def _btree_indexes(t: TableSpec) -> list[tuple[str, ...]]:
    """The key (not enforced, but looked up by) and the declared indexes, without duplicates."""
    out: list[tuple[str, ...]] = []
    for cols in (t.key, *t.indexes):
        if cols and tuple(cols) not in out:
            out.append(tuple(cols))
    return out


def _index_name(table: str, cols: Sequence[str]) -> str:
    return f"{table}_{'_'.join(cols)}"[:63]


@dataclass(frozen=True)
class _Codec:
    """How one column travels: to CSV for COPY in, as which SQL expression and CSV type out."""

    csv_type: pa.DataType  # what the CSV reader parses

    @staticmethod
    def of(t: TableSpec, f: pa.Field) -> _Codec:
        typ = f.type
        if f.name == t.geometry or pa.types.is_binary(typ):
            return _Codec(pa.string())
        if typ == pa.int8():
            return _Codec(pa.int16())
        if typ == pa.uint64():
            return _Codec(pa.int64())
        if pa.types.is_date32(typ):
            return _Codec(pa.int32())
        if pa.types.is_timestamp(typ):
            return _Codec(pa.int64())
        return _Codec(typ)


def _to_csv_array(t: TableSpec, f: pa.Field, arr: pa.Array) -> pa.Array:
    """A column as COPY's CSV wants it (Arrow writes everything else the way PostgreSQL reads it)."""
    if f.name == t.geometry:
        return _ewkb_hex(arr)
    if pa.types.is_binary(f.type):
        return _bytea_hex(arr)
    if f.type == pa.uint64():
        return arr.view(pa.int64())
    return arr


def _select_expr(t: TableSpec, f: pa.Field, postgis: str) -> sql.Composable:
    col = sql.Identifier(f.name)
    if f.name == t.geometry:
        return sql.SQL("encode({}({}), 'hex')").format(sql.Identifier(postgis, "st_asbinary"), col)
    if pa.types.is_binary(f.type):
        return sql.SQL("encode({}, 'hex')").format(col)
    if pa.types.is_date32(f.type):
        return sql.SQL("({} - DATE '1970-01-01')").format(col)
    if pa.types.is_timestamp(f.type):
        return sql.SQL("(EXTRACT(EPOCH FROM {}) * 1000000)::bigint").format(col)
    return col


def _from_csv_array(t: TableSpec, f: pa.Field, col: pa.ChunkedArray) -> pa.ChunkedArray:
    if f.name == t.geometry or pa.types.is_binary(f.type):
        return pa.chunked_array([_unhex(c) for c in col.chunks], type=pa.binary())
    if f.type == pa.uint64():
        return pa.chunked_array([c.view(pa.uint64()) for c in col.chunks], type=pa.uint64())
    return col.cast(f.type)


def _ewkb_hex(arr: pa.Array) -> pa.Array:
    """WKB → hex EWKB with SRID 4326, the text form a geometry(…, 4326) column accepts."""
    geoms = shapely.set_srid(shapely.from_wkb(arr.to_numpy(zero_copy_only=False)), 4326)
    return pa.array(shapely.to_wkb(geoms, hex=True, include_srid=True, output_dimension=2), pa.string())


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_UNHEX = np.zeros(256, dtype=np.uint8)
_UNHEX[np.frombuffer(b"0123456789abcdef", np.uint8)] = np.arange(16, dtype=np.uint8)
_UNHEX[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16, dtype=np.uint8)


def _varwidth(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets (int64, from 0), data bytes and validity of a string or binary array, without copies."""
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + n + 1]
    offsets = offsets.astype(np.int64)
    buf = arr.buffers()[2]
    data = np.frombuffer(buf, dtype=np.uint8) if buf is not None else np.zeros(0, np.uint8)
    data = data[offsets[0] : offsets[-1]]
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    return offsets - offsets[0], data, valid


def _validity(valid: np.ndarray) -> pa.Buffer | None:
    return None if valid.all() else pa.array(valid).buffers()[1]


def _bytea_hex(arr: pa.Array) -> pa.Array:
    """binary → `\\x…` text (bytea's hex input form), vectorised with numpy."""
    offsets, data, valid = _varwidth(arr)
    digits = np.empty(2 * len(data), dtype=np.uint8)
    digits[0::2] = _HEX[data >> 4]
    digits[1::2] = _HEX[data & 0x0F]
    starts = 2 * offsets[:-1][valid]
    text = np.insert(digits, np.repeat(starts, 2), np.tile(np.frombuffer(b"\\x", np.uint8), len(starts)))
    out_offsets = 2 * offsets + 2 * np.concatenate([[0], np.cumsum(valid)])
    return pa.Array.from_buffers(
        pa.string(),
        len(arr),
        [_validity(valid), pa.py_buffer(out_offsets.astype(np.int32)), pa.py_buffer(text)],
    )


def _unhex(arr: pa.Array) -> pa.Array:
    """Hex text (from `encode(…, 'hex')`) → binary, vectorised with numpy."""
    offsets, data, valid = _varwidth(arr)
    if len(data) % 2:
        raise StoreError("PostgreSQL sent hex of odd length")
    nibbles = _UNHEX[data]
    raw = (nibbles[0::2] << 4) | nibbles[1::2]
    return pa.Array.from_buffers(
        pa.binary(),
        len(arr),
        [_validity(valid), pa.py_buffer((offsets // 2).astype(np.int32)), pa.py_buffer(raw)],
    )


# ---------------------------------------------------------------------------------------------------------
# filters


_SQL_OPS = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def _where(t: TableSpec, filters: list[Filter], *, snapshot_id: int | None = None) -> sql.Composable:
    """Checked filters as a WHERE clause; values are SQL literals cast to the column's type."""
    parts = [_predicate(t, col, op, value) for col, op, value in filters]
    if snapshot_id is not None:
        parts.insert(0, sql.SQL("snapshot_id = CAST({} AS bigint)").format(sql.Literal(snapshot_id)))
    return sql.SQL(" AND ").join(parts) if parts else sql.SQL("TRUE")


def _predicate(t: TableSpec, col: str, op: str, value: Any) -> sql.Composable:
    f = t.schema.field(col)
    ident = sql.Identifier(col)
    if op == "is null":
        return sql.SQL("{} IS NULL").format(ident)
    if op == "not null":
        return sql.SQL("{} IS NOT NULL").format(ident)
    if f.type == pa.uint64():
        return _u64_predicate(ident, op, value)
    typ = sql.SQL(pg_type(t, f))
    if op == "in":
        return sql.SQL("{} = ANY(CAST({} AS {}[]))").format(ident, sql.Literal(value), typ)
    if op == "not in":
        return sql.SQL("({0} IS NOT NULL AND {0} <> ALL(CAST({1} AS {2}[])))").format(
            ident, sql.Literal(value), typ
        )
    # CAST, not ::, which binds tighter than a minus sign (-9223372036854775808::bigint overflows)
    return sql.SQL("{} {} CAST({} AS {})").format(ident, sql.SQL(_SQL_OPS[op]), sql.Literal(value), typ)


def _as_i64(value: int) -> int:
    """The bigint holding a uint64's 64 bits."""
    return value - (1 << 64) if value >= _U64_HALF else value


def _u64_predicate(ident: sql.Identifier, op: str, value: Any) -> sql.Composable:
    """A uint64 comparison on its bigint bits: values ≥ 2^63 are negative there, so split the range."""
    if op in ("in", "not in"):
        lit = sql.Literal([_as_i64(v) for v in value])
        if op == "in":
            return sql.SQL("{} = ANY(CAST({} AS bigint[]))").format(ident, lit)
        return sql.SQL("({0} IS NOT NULL AND {0} <> ALL(CAST({1} AS bigint[])))").format(ident, lit)
    s = sql.SQL("CAST({} AS bigint)").format(sql.Literal(_as_i64(value)))
    if op in ("=", "!="):
        return sql.SQL("{} {} {}").format(ident, sql.SQL(_SQL_OPS[op]), s)
    low = value < _U64_HALF
    template = {
        ("<", True): "({0} >= 0 AND {0} < {1})",
        ("<", False): "({0} >= 0 OR {0} < {1})",
        ("<=", True): "({0} >= 0 AND {0} <= {1})",
        ("<=", False): "({0} >= 0 OR {0} <= {1})",
        (">", True): "({0} > {1} OR {0} < 0)",
        (">", False): "({0} < 0 AND {0} > {1})",
        (">=", True): "({0} >= {1} OR {0} < 0)",
        (">=", False): "({0} < 0 AND {0} >= {1})",
    }[(op, low)]
    return sql.SQL(template).format(ident, s)


# ---------------------------------------------------------------------------------------------------------
# migrations


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path | None = None) -> list[Migration]:
    """The numbered migrations (`0001_init.sql`, …) in order; a gap or a duplicate number is an error."""
    directory = directory or MIGRATIONS_DIR
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        m = _MIGRATION_FILE.match(path.name)
        if not m:
            raise StoreError(f"migration {path.name}: name must look like 0001_what_it_does.sql")
        version = int(m.group(1))
        if version in found:
            raise StoreError(f"migrations {found[version].name} and {path.name} share number {version}")
        found[version] = Migration(version, path.name, path.read_text(encoding="utf-8"))
    versions = sorted(found)
    if versions != list(range(1, len(versions) + 1)):
        raise StoreError(f"migrations must be numbered 1, 2, 3, … without gaps; found {versions}")
    return [found[v] for v in versions]


# ---------------------------------------------------------------------------------------------------------
# the store


class PostgisStore:
    """The store in one PostgreSQL schema (see the module docstring for the design)."""

    backend = "postgis"

    def __init__(self, dsn: str, schema: str = "riskmap", settings: StoreSettings | None = None) -> None:
        if not _SCHEMA_NAME.match(schema):
            raise StoreError(f"schema name {schema!r}: use lower-case letters, digits and _ (max 63)")
        self.schema = schema
        self.settings = settings or StoreSettings()
        try:
            params = conninfo_to_dict(dsn)
        except psycopg.ProgrammingError as exc:
            raise StoreError(f"not a PostgreSQL connection string: {exc}") from None
        self.where = _describe(params)
        self._connect_timeout = max(1, math.ceil(self.settings.connect_timeout_s))
        self._conninfo = _conninfo(params, schema, self.settings.statement_timeout_ms)
        self._migrate_conninfo = _conninfo(params, schema, 0)
        self._tile_conninfo = _conninfo(params, schema, self.settings.statement_timeout_ms, **TILE_SETTINGS)
        self._tile_pool: AsyncConnectionPool | None = None
        self._boxes: tuple[float, list[tuple[str, float, float, float, float]]] | None = None
        self._tile_loop: asyncio.AbstractEventLoop | None = None
        self._postgis_schema: str | None = None  # known once the schema has been checked
        max_size = max(self.settings.pool_max, self.settings.pool_min, 1)
        self._pool: ConnectionPool = ConnectionPool(
            self._conninfo,
            kwargs={"connect_timeout": self._connect_timeout},
            min_size=min(self.settings.pool_min, max_size),
            max_size=max_size,
            timeout=self.settings.connect_timeout_s,
            reconnect_timeout=RECONNECT_WINDOW_S,
            check=ConnectionPool.check_connection,
            name=f"riskmap-{schema}",
            open=False,  # opened on first use: opening a store never touches the network
        )
        self._pool_state = "new"  # new → open → closed
        self._pool_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PostgisStore({self.where!r}, schema={self.schema!r})"

    def close(self) -> None:
        with self._pool_lock:
            if self._pool_state == "open":
                self._pool.close()
            self._pool_state = "closed"

    async def aclose(self) -> None:
        """Close the tile connections of the running event loop (then the rest, as `close`)."""
        pool, self._tile_pool = self._tile_pool, None
        if pool is not None:
            await pool.close()
        self.close()

    # -- tiles ----------------------------------------------------------------------------------------

    def tile(self, q: TileQuery) -> bytes:
        """One vector tile (MVT bytes; empty when no feature meets the tile). See `risk.store.tilesql`."""
        query, params = self.tile_statement(q)
        with self.connection() as conn, conn.cursor(binary=True) as cur:
            for name, value in TILE_SETTINGS.items():
                cur.execute(sql.SQL("SET LOCAL {} = {}").format(sql.Identifier(name), sql.Literal(value)))
            row = cur.execute(query, params).fetchone()
        return bytes(row[0]) if row and row[0] is not None else b""

    def cluster_points(self, table: str) -> None:
        """Rewrite a point table (`TableSpec.points`) in the order of its Web Mercator index: the rows of a
        household tile then sit on few pages (2-4x faster tiles at street zooms). Locks the table."""
        t = table_spec(table, snapshot=False)
        if not t.points:
            raise StoreError(f"table {table!r} has no point column to cluster on")
        with self._guard(), self._direct() as conn:
            # a partitioned table is clustered partition by partition, each on its own copy of the index
            pairs = conn.execute(
                "SELECT c.indrelid::regclass::text, c.indexrelid::regclass::text FROM pg_inherits i"
                " JOIN pg_index c ON c.indexrelid = i.inhrelid WHERE i.inhparent = %s::regclass",
                [f"{self.schema}.{table}_geom_3857_gist"],
            ).fetchall()
            if not pairs:
                pairs = [(f"{self.schema}.{table}", f"{self.schema}.{table}_geom_3857_gist")]
            for part, index in pairs:
                conn.execute(sql.SQL("CLUSTER {} USING {}").format(sql.SQL(part), sql.SQL(index)))
            conn.execute(sql.SQL("ANALYZE {}").format(self._table(table)))

    async def tile_async(self, q: TileQuery) -> bytes:
        """`tile` without leaving the event loop: an async pool of connections kept for tiles."""
        pool = await self._tiles()
        with self._guard():
            async with pool.connection() as conn:
                if q.source == "households" and q.provinces is None:
                    if self._boxes is None or self._boxes[0] < time.monotonic():
                        self._keep_boxes(await (await conn.execute(PROVINCE_BOXES)).fetchall())
                    q = self._with_provinces(q)
                query, params = tile_sql(q)
                cur = await conn.cursor(binary=True).execute(query, params)
                row = await cur.fetchone()
        return bytes(row[0]) if row and row[0] is not None else b""

    def tile_statement(self, q: TileQuery) -> tuple[sql.Composable, dict[str, Any]]:
        """The statement of a tile as `tile` runs it (a households tile names its provinces)."""
        if q.source == "households" and q.provinces is None:
            if self._boxes is None or self._boxes[0] < time.monotonic():
                with self.connection() as conn:
                    self._keep_boxes(conn.execute(PROVINCE_BOXES).fetchall())
            q = self._with_provinces(q)
        return tile_sql(q)

    def _keep_boxes(self, rows: list[tuple[Any, ...]]) -> None:
        self._boxes = (time.monotonic() + PROVINCE_BOXES_TTL_S, [(r[0], *map(float, r[1:])) for r in rows])

    def _with_provinces(self, q: TileQuery) -> TileQuery:
        """The households tile with the provinces whose households' box meets it (its margin included),
        so the statement names the partitions it reads."""
        assert self._boxes is not None
        size = 2 * MERCATOR_HALF / 2**q.z
        margin = size * q.buffer / q.extent
        x0 = -MERCATOR_HALF + q.x * size - margin
        x1 = -MERCATOR_HALF + (q.x + 1) * size + margin
        y1 = MERCATOR_HALF - q.y * size + margin
        y0 = MERCATOR_HALF - (q.y + 1) * size - margin
        provinces = tuple(
            sorted(p for p, a, b, c, d in self._boxes[1] if a <= x1 and c >= x0 and b <= y1 and d >= y0)
        )
        return replace(q, provinces=provinces)

    async def _tiles(self) -> AsyncConnectionPool:
        loop = asyncio.get_running_loop()
        if self._tile_pool is None or self._tile_loop is not loop:
            if self._postgis_schema is None:
                await asyncio.to_thread(self._checked)
            pool = AsyncConnectionPool(
                self._tile_conninfo,
                kwargs={"connect_timeout": self._connect_timeout, "autocommit": True},
                min_size=1,
                max_size=max(self.settings.pool_max, 1),
                timeout=self.settings.connect_timeout_s,
                reconnect_timeout=RECONNECT_WINDOW_S,
                name=f"riskmap-{self.schema}-tiles",
                open=False,
            )
            await pool.open(wait=False)
            self._tile_pool, self._tile_loop = pool, loop
        return self._tile_pool

    def _checked(self) -> None:
        with self._guard():
            self._check_schema()

    def _pooled(self) -> contextlib.AbstractContextManager[psycopg.Connection]:
        with self._pool_lock:
            if self._pool_state == "closed":
                raise StoreError(f"{self!r} is closed")
            if self._pool_state == "new":
                self._pool.open(wait=False)
                self._pool_state = "open"
        return self._pool.connection()

    # -- connections and errors -----------------------------------------------------------------------

    @contextlib.contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection in a transaction, committed on success, for store-internal SQL.

        The schema must be migrated. Errors come out as `StoreError`, or `StoreUnavailable` when the
        server cannot be reached.
        """
        with self._guard():
            if self._postgis_schema is None:
                self._check_schema()
            with self._pooled() as conn:
                yield conn

    @contextlib.contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """A named lock across processes and hosts (a transaction-scoped advisory lock), e.g. so that API
        workers starting together derive a table once."""
        with self.connection() as conn:
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"riskmap:{self.schema}:{name}"]
            )
            yield

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except PoolTimeout as exc:
            raise self._unavailable() from exc
        except psycopg.errors.QueryCanceled as exc:
            raise StoreError(
                f"PostgreSQL at {self.where} cancelled a statement "
                f"(statement_timeout {self.settings.statement_timeout_ms} ms): {_first_line(exc)}"
            ) from exc
        except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName) as exc:
            raise StoreError(
                f"schema {self.schema!r} at {self.where} is incomplete ({_first_line(exc)}); "
                "run `riskmap store migrate`"
            ) from exc
        except psycopg.OperationalError as exc:
            state = exc.sqlstate or ""
            if not state or state.startswith(("08", "57P", "53")):
                raise StoreUnavailable(f"lost PostgreSQL at {self.where}: {_first_line(exc)}") from exc
            raise StoreError(f"PostgreSQL at {self.where}: {_first_line(exc)}") from exc
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL at {self.where}: {_first_line(exc)}") from exc

    def _unavailable(self) -> StoreError:
        """Why no connection came: ask the server directly, so the message names the real cause."""
        wait = f"no connection within {self.settings.connect_timeout_s:g} s"
        try:
            with psycopg.connect(self._conninfo, connect_timeout=self._connect_timeout):
                pass
        except psycopg.Error as exc:
            return StoreUnavailable(f"PostgreSQL at {self.where} is unavailable ({wait}): {_first_line(exc)}")
        if self._pool.get_stats().get("pool_size", 0) >= self._pool.max_size:
            return StoreError(
                f"all {self._pool.max_size} connections to PostgreSQL at {self.where} stayed busy for "
                f"{self.settings.connect_timeout_s:g} s (RISKMAP_STORE_POOL_MAX)"
            )
        return StoreUnavailable(f"PostgreSQL at {self.where} is back; reconnecting ({wait})")

    def _check_schema(self) -> None:
        """Refuse to work on a schema that is missing, behind or ahead of this code's migrations."""
        latest = len(load_migrations())
        with self._pooled() as conn:
            row = conn.execute(
                "SELECT (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
                " WHERE e.extname = 'postgis'), to_regclass(%s) IS NOT NULL",
                [f"{self.schema}.schema_migrations"],
            ).fetchone()
            assert row is not None
            postgis, migrated = row
            version = 0
            if migrated:
                query = sql.SQL("SELECT COALESCE(max(version), 0) FROM {}")
                version = conn.execute(query.format(self._table("schema_migrations"))).fetchone()[0]
        if version < latest:
            raise StoreError(
                f"schema {self.schema!r} at {self.where} is at migration {version} of {latest}; "
                "run `riskmap store migrate`"
            )
        if version > latest:
            raise StoreError(
                f"schema {self.schema!r} at {self.where} is at migration {version}, newer than this "
                f"riskmap ({latest}); upgrade riskmap"
            )
        self._postgis_schema = postgis

    def _table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name)

    # -- migrations -----------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Apply the migrations this schema lacks, each in its own transaction, one migrator at a time.

        A session advisory lock serialises concurrent migrators (the second one finds the work done).
        An applied migration whose file has since changed is an error: fix forward with a new file.
        """
        migrations = load_migrations()
        with self._guard(), self._direct() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK])
            try:
                postgis = _ensure_postgis(conn, self.where)
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
                conn.execute(
                    sql.SQL(
                        "CREATE TABLE IF NOT EXISTS {} (version integer PRIMARY KEY, name text NOT NULL,"
                        " checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
                    ).format(self._table("schema_migrations"))
                )
                applied = dict(
                    conn.execute(
                        sql.SQL("SELECT version, checksum FROM {}").format(self._table("schema_migrations"))
                    ).fetchall()
                )
                self._check_applied(applied, migrations)
                for m in migrations:
                    if m.version not in applied:
                        self._apply(conn, m, postgis)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK])
        self._postgis_schema = None

    def _check_applied(self, applied: Mapping[int, str], migrations: list[Migration]) -> None:
        known = {m.version: m for m in migrations}
        for version, checksum in sorted(applied.items()):
            if version not in known:
                raise StoreError(
                    f"schema {self.schema!r} at {self.where} has migration {version}, newer than this "
                    f"riskmap ({len(migrations)}); upgrade riskmap"
                )
            if known[version].checksum != checksum:
                raise StoreError(
                    f"migration {known[version].name} changed after it was applied to schema "
                    f"{self.schema!r} at {self.where}; never edit an applied migration, add a new one"
                )

    def _apply(self, conn: psycopg.Connection, m: Migration, postgis: str) -> None:
        with conn.transaction():
            conn.execute(
                sql.SQL("SET LOCAL search_path TO {}, {}").format(
                    sql.Identifier(self.schema), sql.Identifier(postgis)
                )
            )
            try:
                conn.execute(m.sql.encode())
            except psycopg.Error as exc:
                raise StoreError(f"migration {m.name} failed: {_first_line(exc)}") from exc
            conn.execute(
                sql.SQL("INSERT INTO {} (version, name, checksum) VALUES (%s, %s, %s)").format(
                    self._table("schema_migrations")
                ),
                [m.version, m.name, m.checksum],
            )

    @contextlib.contextmanager
    def _direct(self) -> Iterator[psycopg.Connection]:
        """An unpooled autocommit connection without statement timeout (migrations may take long)."""
        try:
            conn = psycopg.connect(
                self._migrate_conninfo, connect_timeout=self._connect_timeout, autocommit=True
            )
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"PostgreSQL at {self.where} is unavailable: {_first_line(exc)}") from exc
        with conn:
            yield conn

    # -- tables ---------------------------------------------------------------------------------------

    def write_tables(self, tables: Mapping[str, Frame], *, mode: Mode = "append") -> None:
        if mode not in ("append", "replace"):
            raise StoreError(f"unknown write mode {mode!r}")
        conformed = self._conform(tables)
        bulk = self._bulk_candidates(conformed)
        with self.connection() as conn:
            for t, arrow in conformed:
                self._load(conn, t, arrow, replace=mode == "replace", bulk=t.name in bulk)
        if any(t.partition_by for t, _ in conformed):
            self._boxes = None  # this process sees its own households at once; others within the TTL

    @staticmethod
    def _conform(tables: Mapping[str, Frame]) -> list[tuple[TableSpec, pa.Table]]:
        """Check and convert every table before any is written; in name order, so that concurrent
        writers lock tables in the same order."""
        conformed = [(t, to_arrow(t, data)) for t, data in _specs(tables, snapshot=False)]
        return sorted(conformed, key=lambda ta: ta[0].name)

    def _bulk_candidates(self, conformed: list[tuple[TableSpec, pa.Table]]) -> set[str]:
        """Tables that get a big load and look empty (checked again under lock inside the write)."""
        big = [t for t, arrow in conformed if arrow.num_rows >= BULK_ROWS]
        if not big:
            return set()
        with self.connection() as conn:
            return {t.name for t in big if self._is_empty(conn, self._table(t.name))}

    @staticmethod
    def _is_empty(conn: psycopg.Connection, target: sql.Identifier) -> bool:
        row = conn.execute(sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(target)).fetchone()
        return bool(row and row[0])

    def _load(
        self, conn: psycopg.Connection, t: TableSpec, arrow: pa.Table, *, replace: bool, bulk: bool = False
    ) -> None:
        """Append (or replace) a table's rows inside the caller's transaction.

        Replacing is DELETE, not TRUNCATE: readers keep their rows, unblocked, until commit. A big load
        into an empty table (`bulk`) locks it, drops its indexes and builds them after the load, about
        twice as fast as maintaining them row by row; readers of an empty table wait instead of
        seeing nothing.
        """
        target = self._table(t.name)
        if t.partition_by:
            self._ensure_partitions(conn, t, arrow)
        if bulk:
            conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(target))
            bulk = self._is_empty(conn, target)  # another writer may have filled it meanwhile
        if bulk:
            self._copy_then_index(conn, t, arrow, target)
        else:
            if replace:
                conn.execute(sql.SQL("DELETE FROM {}").format(target))
            self._copy_in(conn, t, arrow, target)
        if t.partition_by and t.points:
            self._refresh_extents(conn, t, arrow, everything=replace)

    def _ensure_partitions(self, conn: psycopg.Connection, t: TableSpec, arrow: pa.Table) -> None:
        """One LIST partition per value of the partition column (made on its first write, so the
        default partition only ever holds rows without a value and never blocks a new partition)."""
        assert t.partition_by
        values = [v for v in pc.unique(arrow[t.partition_by]).to_pylist() if v is not None]
        if not values:
            return
        parent = f"{self.schema}.{t.name}"

        def existing() -> set[str]:
            return {
                r[0]
                for r in conn.execute(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                    " WHERE i.inhparent = %s::regclass",
                    [parent],
                )
            }

        missing = [v for v in sorted(values) if partition_name(t.name, v) not in existing()]
        if not missing:
            return
        # concurrent first writes of one province would both try to create it: one at a time (the lock
        # is held to the end of the transaction, so the next writer sees the committed partition)
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [parent + ":partitions"])
        have = existing()
        for v in missing:
            name = partition_name(t.name, v)
            if name not in have:
                conn.execute(
                    sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF {} FOR VALUES IN ({})").format(
                        self._table(name), self._table(t.name), sql.Literal(v)
                    )
                )

    def _refresh_extents(
        self, conn: psycopg.Connection, t: TableSpec, arrow: pa.Table, *, everything: bool
    ) -> None:
        """Keep `province_extents` (the Web Mercator box of each partition's points) in the writing
        transaction: tile statements pick the partitions a tile needs from it. Only the partitions
        written are scanned; deleting rows leaves a box too big, never too small."""
        assert t.partition_by
        key = sql.Identifier(t.partition_by)
        extents, target = self._table("province_extents"), self._table(t.name)
        values = [v for v in pc.unique(arrow[t.partition_by]).to_pylist() if v is not None]
        if everything:
            conn.execute(sql.SQL("DELETE FROM {}").format(extents))
            where = sql.SQL("{} IS NOT NULL").format(key)
        elif values:
            conn.execute(sql.SQL("DELETE FROM {} WHERE province = ANY(%s)").format(extents), [values])
            where = sql.SQL("{} = ANY(%s)").format(key)
        else:
            return
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (province, extent) SELECT {k}, ST_SetSRID(ST_Extent(geom_3857)::geometry, 3857)"
                " FROM {} WHERE {} AND geom_3857 IS NOT NULL GROUP BY {k}"
            ).format(extents, target, where, k=key),
            [] if everything else [values],
        )

    def _copy_then_index(
        self, conn: psycopg.Connection, t: TableSpec, arrow: pa.Table, target: sql.Identifier
    ) -> None:
        """Drop a locked empty table's plain indexes, load it, and recreate them from the catalog's DDL."""
        indexes = conn.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
            " WHERE i.indrelid = %s::regclass AND NOT EXISTS"
            " (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            [f"{self.schema}.{t.name}"],
        ).fetchall()
        for name, _ in indexes:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(name)))
        self._copy_in(conn, t, arrow, target)
        conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for _, definition in indexes:
            # as it was (a partitioned table's index is described "ON ONLY": made again on every partition)
            conn.execute(definition.replace(" ON ONLY ", " ON ", 1).encode())

    def _copy_in(
        self, conn: psycopg.Connection, t: TableSpec, arrow: pa.Table, target: sql.Composable
    ) -> None:
        """Load rows by COPY in CSV written by Arrow, a few statements for big tables."""
        stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
            target, sql.SQL(", ").join(map(sql.Identifier, t.columns))
        )
        options = pacsv.WriteOptions(include_header=False, batch_size=CSV_ROWS)
        with conn.cursor() as cur:
            for start in range(0, arrow.num_rows, COPY_ROWS):
                part = arrow.slice(start, COPY_ROWS)
                # a writer thread sends one piece while Arrow writes the next
                with cur.copy(stmt, writer=QueuedLibpqWriter(cur)) as copy:
                    for piece in part.to_batches(max_chunksize=CSV_ROWS):
                        cols = [_to_csv_array(t, f, piece.column(i)) for i, f in enumerate(t.schema)]
                        sink = pa.BufferOutputStream()
                        pacsv.write_csv(pa.RecordBatch.from_arrays(cols, names=t.columns), sink, options)
                        copy.write(memoryview(sink.getvalue()))

    def read_table(
        self, table: str, *, columns: Sequence[str] | None = None, filters: Iterable[Filter] = ()
    ) -> pd.DataFrame:
        t = table_spec(table, snapshot=False)
        return to_frame(t, self._read(t, columns, check_filters(t, filters)))

    def read_arrow(
        self, table: str, *, columns: Sequence[str] | None = None, filters: Iterable[Filter] = ()
    ) -> pa.Table:
        t = table_spec(table, snapshot=False)
        return self._read(t, columns, check_filters(t, filters))

    def count(self, table: str, *, filters: Iterable[Filter] = ()) -> int:
        t = table_spec(table, snapshot=False)
        return self._count(t, _where(t, check_filters(t, filters)))

    def _count(self, t: TableSpec, where: sql.Composable) -> int:
        with self.connection() as conn:
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE {}").format(self._table(t.name), where)
            ).fetchone()
        return int(row[0]) if row else 0

    def _read(
        self,
        t: TableSpec,
        columns: Sequence[str] | None,
        filters: list[Filter],
        *,
        snapshot_id: int | None = None,
    ) -> pa.Table:
        cols = list(columns) if columns is not None else t.columns
        unknown = [c for c in cols if c not in t.columns]
        if unknown:
            raise StoreError(f"table {t.name}: no columns {unknown}")
        where = _where(t, filters, snapshot_id=snapshot_id)
        if not cols:  # no columns to send: only the number of rows
            return pa.table({"n": pa.nulls(self._count(t, where))}).drop_columns(["n"])
        fields = [t.schema.field(c) for c in cols]
        with self.connection() as conn, contextlib.ExitStack() as stack:
            exprs = sql.SQL(", ").join(_select_expr(t, f, self._postgis_schema or "public") for f in fields)
            query = sql.SQL("COPY (SELECT {} FROM {} WHERE {}) TO STDOUT (FORMAT csv)").format(
                exprs, self._table(t.name), where
            )
            # Big reads: Arrow parses one chunk (releasing the GIL) while this thread receives the next.
            parser: ThreadPoolExecutor | None = None
            parsed: list[Future[pa.Table]] = []
            buf = bytearray()
            with conn.cursor() as cur, cur.copy(query) as copy:
                for data in copy:
                    buf += data
                    if len(buf) >= READ_CHUNK_BYTES:
                        parser = parser or stack.enter_context(ThreadPoolExecutor(1, "riskmap-csv"))
                        parsed.append(parser.submit(_parse_csv, t, fields, buf))
                        buf = bytearray()
            parts = [p.result() for p in parsed] + ([_parse_csv(t, fields, buf)] if buf else [])
        return pa.concat_tables(parts) if parts else pa.schema(fields).empty_table()

    # -- in-place changes (retention) -----------------------------------------------------------------

    def redact_rows(self, table: str, filters: Iterable[Filter], columns: Sequence[str]) -> int:
        t = table_spec(table, snapshot=False)
        unknown = [c for c in columns if c not in t.columns]
        if unknown:
            raise StoreError(f"table {table}: no columns {unknown} to redact")
        if not columns:
            return 0
        where = _where(t, check_filters(t, filters))
        sets = sql.SQL(", ").join(sql.SQL("{} = NULL").format(sql.Identifier(c)) for c in columns)
        with self.connection() as conn:
            cur = conn.execute(sql.SQL("UPDATE {} SET {} WHERE {}").format(self._table(t.name), sets, where))
            return cur.rowcount

    def delete_rows(self, table: str, filters: Iterable[Filter]) -> int:
        t = table_spec(table, snapshot=False)
        filters = list(filters)
        if not filters:
            raise StoreError(f"delete from {table}: give at least one filter (use replace to empty a table)")
        where = _where(t, check_filters(t, filters))
        with self.connection() as conn:
            cur = conn.execute(sql.SQL("DELETE FROM {} WHERE {}").format(self._table(t.name), where))
            return cur.rowcount

    # -- the audit log --------------------------------------------------------------------------------

    def audit_head(self) -> tuple[int, str]:
        with self.connection() as conn:
            row = conn.execute(
                sql.SQL("SELECT seq, hash FROM {} WHERE id = 1").format(self._table("audit_head"))
            ).fetchone()
        assert row is not None
        return int(row[0]), str(row[1])

    def append_audit(self, entries: pd.DataFrame) -> pd.DataFrame:
        """The head row is locked (FOR UPDATE) for the transaction: appenders queue, readers do not."""
        t = table_spec("audit_log", snapshot=False)
        if not len(entries):
            return to_frame(t, t.schema.empty_table())
        with self.connection() as conn:
            row = conn.execute(
                sql.SQL("SELECT seq, hash FROM {} WHERE id = 1 FOR UPDATE").format(self._table("audit_head"))
            ).fetchone()
            assert row is not None
            chained = chain_audit((int(row[0]), str(row[1])), entries)
            arrow = to_arrow(t, chained)
            self._copy_in(conn, t, arrow, self._table(t.name))
            last = chained.iloc[-1]
            conn.execute(
                sql.SQL("UPDATE {} SET seq = %s, hash = %s WHERE id = 1").format(self._table("audit_head")),
                [int(last["seq"]), str(last["hash"])],
            )
        return to_frame(t, arrow)

    # -- sequences ------------------------------------------------------------------------------------

    def next_ids(self, sequence: str, n: int) -> int:
        if n < 0:
            raise StoreError("cannot reserve a negative number of ids")
        with self.connection() as conn:
            row = conn.execute(
                sql.SQL(
                    "INSERT INTO {} AS s (name, next) VALUES (%(name)s, 1 + %(n)s) ON CONFLICT (name)"
                    " DO UPDATE SET next = s.next + %(n)s RETURNING next - %(n)s"
                ).format(self._table("id_sequences")),
                {"name": sequence, "n": n},
            ).fetchone()
        assert row is not None
        return int(row[0])

    # -- batches --------------------------------------------------------------------------------------

    _BATCH_COLUMNS = (
        "batch_id, content_sha256, source, kind, file_name, rows_in, accepted, corrected, quarantined,"
        " duplicates, committed_at, report"
    )

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
            committed_at=row[10].astimezone(dt.UTC),
            report=row[11],
        )

    def _find_batch(self, conn: psycopg.Connection, sha: str) -> BatchInfo | None:
        row = conn.execute(
            sql.SQL("SELECT " + self._BATCH_COLUMNS + " FROM {} WHERE content_sha256 = %s").format(
                self._table("batches")
            ),
            [sha],
        ).fetchone()
        return self._batch_from_row(row) if row else None

    def find_batch(self, content_sha256: str) -> BatchInfo | None:
        with self.connection() as conn:
            return self._find_batch(conn, content_sha256)

    def commit_batch(self, batch: BatchInfo, tables: Mapping[str, Frame]) -> BatchInfo:
        """Land the account row first: a concurrent commit of the same file waits on its unique key,
        then finds it there and writes nothing."""
        check_balanced(batch)
        conformed = self._conform(tables)
        bulk = self._bulk_candidates(conformed)
        bid = batch.batch_id if batch.batch_id is not None else self.next_ids("batch", 1)
        final = batch.with_id(bid, utcnow())
        with self.connection() as conn:
            inserted = self._insert_batch(conn, final)
            if inserted is None:
                existing = self._find_batch(conn, final.content_sha256)
                assert existing is not None
                return existing
            for t, arrow in conformed:
                self._load(conn, t, arrow, replace=False, bulk=t.name in bulk)
        return final

    def _insert_batch(self, conn: psycopg.Connection, final: BatchInfo) -> tuple[Any, ...] | None:
        """The account row, or None when this file's hash is already there."""
        try:
            return conn.execute(
                sql.SQL(
                    "INSERT INTO {} (" + self._BATCH_COLUMNS + ") VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s,"
                    " %s, %s, %s::json) ON CONFLICT (content_sha256) DO NOTHING RETURNING batch_id"
                ).format(self._table("batches")),
                [
                    final.batch_id,
                    final.content_sha256,
                    final.source,
                    final.kind,
                    final.file_name,
                    final.rows_in,
                    final.accepted,
                    final.corrected,
                    final.quarantined,
                    final.duplicates,
                    final.committed_at,
                    dump_json(final.report),
                ],
            ).fetchone()
        except psycopg.errors.UniqueViolation as exc:  # same batch_id, other content
            raise StoreError(f"batch {final.file_name}: batch id {final.batch_id} is taken: {exc}") from exc

    def list_batches(self, *, source: str | None = None) -> list[BatchInfo]:
        with self.connection() as conn:
            rows = conn.execute(
                sql.SQL(
                    "SELECT " + self._BATCH_COLUMNS + " FROM {} WHERE %(s)s::text IS NULL OR source = %(s)s"
                    " ORDER BY batch_id"
                ).format(self._table("batches")),
                {"s": source},
            ).fetchall()
        return [self._batch_from_row(r) for r in rows]

    # -- snapshots ------------------------------------------------------------------------------------

    _SNAPSHOT_COLUMNS = (
        "snapshot_id, as_of, profile, profile_version, input_watermark, created_at, parent_id, stats"
    )

    @staticmethod
    def _snapshot_from_row(row: Sequence[Any]) -> SnapshotInfo:
        return SnapshotInfo(
            snapshot_id=row[0],
            as_of=row[1].astimezone(dt.UTC),
            profile=row[2],
            profile_version=row[3],
            input_watermark=row[4],
            created_at=row[5].astimezone(dt.UTC),
            parent_id=row[6],
            stats=row[7],
        )

    def write_snapshot(self, info: SnapshotInfo, tables: Mapping[str, Frame]) -> SnapshotInfo:
        """Insert the snapshot row and attach its partitions in one transaction: complete or absent."""
        specs = _specs(tables, snapshot=True)
        conformed = [(t, to_arrow(t, _without_snapshot_id(data))) for t, data in specs]
        with self.connection() as conn:
            row = conn.execute(
                sql.SQL(
                    "INSERT INTO {} (as_of, profile, profile_version, input_watermark, created_at, parent_id,"
                    " stats) VALUES (%s, %s, %s, %s, %s, %s, %s::json) RETURNING snapshot_id"
                ).format(self._table("snapshots")),
                [
                    as_utc(info.as_of),
                    info.profile,
                    info.profile_version,
                    info.input_watermark,
                    utcnow(),
                    info.parent_id,
                    dump_json(info.stats),
                ],
            ).fetchone()
            assert row is not None
            sid = int(row[0])
            for t, arrow in conformed:
                ids = pa.array(np.full(arrow.num_rows, sid, dtype=np.int64))
                arrow = arrow.set_column(arrow.schema.get_field_index("snapshot_id"), "snapshot_id", ids)
                self._write_partition(conn, t, sid, arrow)
        return self.get_snapshot(sid)

    def _write_partition(self, conn: psycopg.Connection, t: TableSpec, sid: int, arrow: pa.Table) -> None:
        """Load a standalone table, then attach it: indexes are built once, after the load, and the
        CHECK constraint spares ATTACH a validation scan."""
        part = self._table(f"{t.name}_s{sid}")
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS)"
            ).format(part, self._table(t.name))
        )
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} CHECK (snapshot_id = CAST({} AS bigint))").format(
                part, sql.Identifier(f"{t.name}_s{sid}_snapshot"), sql.Literal(sid)
            )
        )
        self._copy_in(conn, t, arrow, part)
        conn.execute(
            sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES IN ({})").format(
                self._table(t.name), part, sql.Literal(sid)
            )
        )

    def publish_snapshot(self, snapshot_id: int) -> None:
        with self.connection() as conn:
            row = conn.execute(
                sql.SQL(
                    "INSERT INTO {} (id, snapshot_id, published_at) SELECT 1, snapshot_id, now() FROM {}"
                    " WHERE snapshot_id = %s ON CONFLICT (id) DO UPDATE"
                    " SET snapshot_id = EXCLUDED.snapshot_id, published_at = EXCLUDED.published_at"
                    " RETURNING snapshot_id"
                ).format(self._table("current_snapshot"), self._table("snapshots")),
                [snapshot_id],
            ).fetchone()
        if row is None:
            raise StoreError(f"snapshot {snapshot_id} does not exist or is not complete")

    def current_snapshot(self) -> SnapshotInfo | None:
        with self.connection() as conn:
            row = conn.execute(
                sql.SQL("SELECT " + self._SNAPSHOT_COLUMNS + " FROM {} JOIN {} s USING (snapshot_id)").format(
                    self._table("current_snapshot"), self._table("snapshots")
                )
            ).fetchone()
        return self._snapshot_from_row(row) if row else None

    def get_snapshot(self, snapshot_id: int) -> SnapshotInfo:
        with self.connection() as conn:
            row = conn.execute(
                sql.SQL("SELECT " + self._SNAPSHOT_COLUMNS + " FROM {} WHERE snapshot_id = %s").format(
                    self._table("snapshots")
                ),
                [snapshot_id],
            ).fetchone()
        if row is None:
            raise StoreError(f"no snapshot {snapshot_id}")
        return self._snapshot_from_row(row)

    def list_snapshots(self) -> list[SnapshotInfo]:
        with self.connection() as conn:
            rows = conn.execute(
                sql.SQL("SELECT " + self._SNAPSHOT_COLUMNS + " FROM {} ORDER BY snapshot_id").format(
                    self._table("snapshots")
                )
            ).fetchall()
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
        flts = check_filters(t, filters)
        self.get_snapshot(snapshot_id)
        return to_frame(t, self._read(t, columns, flts, snapshot_id=snapshot_id))


# ---------------------------------------------------------------------------------------------------------
# helpers


def _specs(tables: Mapping[str, Frame], *, snapshot: bool) -> list[tuple[TableSpec, Frame]]:
    return [(table_spec(name, snapshot=snapshot), data) for name, data in tables.items()]


def _without_snapshot_id(data: Frame) -> Frame:
    """The store assigns snapshot ids; whatever the caller put there is replaced."""
    if isinstance(data, pa.Table):
        return data.drop_columns(["snapshot_id"]) if "snapshot_id" in data.column_names else data
    return data.drop(columns=["snapshot_id"], errors="ignore")


def _parse_csv(t: TableSpec, fields: list[pa.Field], data: bytearray) -> pa.Table:
    """COPY's CSV → Arrow with the columns' types: unquoted empty is NULL, quoted empty is ''."""
    names = [f"c{i}" for i in range(len(fields))]
    parsed = pacsv.read_csv(
        pa.BufferReader(pa.py_buffer(data)),
        read_options=pacsv.ReadOptions(column_names=names, block_size=16 << 20),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={n: _Codec.of(t, f).csv_type for n, f in zip(names, fields, strict=True)},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    )
    arrays = [_from_csv_array(t, f, parsed.column(i)) for i, f in enumerate(fields)]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _ensure_postgis(conn: psycopg.Connection, where: str) -> str:
    """The schema PostGIS lives in, creating the extension if this role may."""
    find = (
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = 'postgis'"
    )
    row = conn.execute(find).fetchone()
    if row is None:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        except psycopg.Error as exc:
            raise StoreError(
                f"PostGIS is not installed in the database at {where} and this role cannot install it "
                f"({_first_line(exc)}); run CREATE EXTENSION postgis as a superuser"
            ) from exc
        row = conn.execute(find).fetchone()
    assert row is not None
    return str(row[0])


def _conninfo(params: dict[str, Any], schema: str, statement_timeout_ms: int, **extra: str) -> str:
    """The DSN plus session settings as connection options (kept by every pooled connection)."""
    settings = {
        "statement_timeout": str(statement_timeout_ms),
        "max_parallel_workers_per_gather": "0",  # parallel workers made small tile queries 10-20x slower
        "timezone": "UTC",
        "search_path": f"{schema},public",
        **extra,
    }
    options = " ".join(f"-c {k}={v}" for k, v in settings.items())
    merged = dict(params)
    merged["options"] = f"{params['options']} {options}" if params.get("options") else options
    merged.setdefault("application_name", "riskmap")
    return make_conninfo("", **merged)


def _describe(params: Mapping[str, Any]) -> str:
    """host:port/dbname, for messages (never the password)."""
    host = params.get("host") or params.get("hostaddr") or "localhost"
    return f"{host}:{params.get('port') or 5432}/{params.get('dbname') or params.get('user') or '?'}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
