"""The store contract: what every backend (embedded, PostGIS) offers, and the helpers they share.

Everything that persists domain data goes through a `Store`. Writes are atomic per call: `write_tables`
either lands every table it was given or none; `commit_batch` lands an ingest batch (its rows, its
quarantined rows and its account) at once and is idempotent by content hash; `write_snapshot` makes an
immutable snapshot visible only when complete, and `publish_snapshot` switches readers to it at once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, runtime_checkable

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely

from risk.store.tables import TableSpec, spec

Mode = Literal["append", "replace"]
Op = Literal["=", "!=", "<", "<=", ">", ">=", "in", "not in", "is null", "not null"]
Filter = tuple[str, Op, Any]
Frame = pd.DataFrame | gpd.GeoDataFrame | pa.Table


class StoreError(RuntimeError):
    """A store operation failed in a way the caller should report (not a bug)."""


class StoreUnavailable(StoreError):
    """The backend cannot be reached (database down); readers fall back to what they hold."""


@dataclass(frozen=True)
class BatchInfo:
    """One ingested file: its identity (content hash) and its account of rows."""

    source: str
    kind: str
    file_name: str
    content_sha256: str
    rows_in: int = 0
    accepted: int = 0
    corrected: int = 0
    quarantined: int = 0
    duplicates: int = 0
    batch_id: int | None = None
    committed_at: dt.datetime | None = None
    report: Mapping[str, Any] = field(default_factory=dict)

    def with_id(self, batch_id: int, committed_at: dt.datetime) -> BatchInfo:
        return replace(self, batch_id=batch_id, committed_at=committed_at)

    @property
    def balanced(self) -> bool:
        """rows in = accepted + corrected + quarantined + exact duplicates."""
        return self.rows_in == self.accepted + self.corrected + self.quarantined + self.duplicates


@dataclass(frozen=True)
class SnapshotInfo:
    """An immutable scoring result: when it speaks for, by which rules, from which inputs."""

    as_of: dt.datetime
    profile: str
    profile_version: str
    input_watermark: int  # highest batch_id the scoring read
    snapshot_id: int | None = None
    created_at: dt.datetime | None = None
    parent_id: int | None = None
    stats: Mapping[str, Any] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        return f'"s{self.snapshot_id}"'


@runtime_checkable
class Store(Protocol):
    """The contract both backends implement and one shared test suite checks."""

    backend: str

    def migrate(self) -> None:
        """Create or upgrade the schema (idempotent)."""

    def close(self) -> None: ...

    def lock(self, name: str) -> contextlib.AbstractContextManager[None]:
        """A named lock across every process using this store (one deriver of a table at a time)."""

    # tables
    def write_tables(self, tables: Mapping[str, Frame], *, mode: Mode = "append") -> None:
        """Write several tables atomically: all land or none does."""

    def read_table(
        self, table: str, *, columns: Sequence[str] | None = None, filters: Iterable[Filter] = ()
    ) -> pd.DataFrame:
        """Rows matching every filter (AND), in no particular order; keys are not enforced by any backend."""

    def read_arrow(
        self, table: str, *, columns: Sequence[str] | None = None, filters: Iterable[Filter] = ()
    ) -> pa.Table:
        """As `read_table`, as an Arrow table in the declared schema (no pandas: for columnar readers of
        tens of millions of rows, such as scoring)."""

    def count(self, table: str, *, filters: Iterable[Filter] = ()) -> int:
        """Rows of a (non-snapshot) table matching every filter."""

    # ingest batches
    def find_batch(self, content_sha256: str) -> BatchInfo | None: ...

    def commit_batch(self, batch: BatchInfo, tables: Mapping[str, Frame]) -> BatchInfo:
        """Land a batch's rows and account atomically; a batch already committed is returned unchanged."""

    def list_batches(self, *, source: str | None = None) -> list[BatchInfo]: ...

    def next_ids(self, sequence: str, n: int) -> int:
        """Reserve n consecutive ids of a named sequence; returns the first."""

    # snapshots
    def write_snapshot(self, info: SnapshotInfo, tables: Mapping[str, Frame]) -> SnapshotInfo:
        """Write an immutable snapshot; it is not current until published."""

    def publish_snapshot(self, snapshot_id: int) -> None:
        """Make a written snapshot the current one, atomically for every reader."""

    def current_snapshot(self) -> SnapshotInfo | None: ...

    def get_snapshot(self, snapshot_id: int) -> SnapshotInfo: ...

    def list_snapshots(self) -> list[SnapshotInfo]: ...

    def read_snapshot(
        self,
        snapshot_id: int,
        table: str,
        *,
        columns: Sequence[str] | None = None,
        filters: Iterable[Filter] = (),
    ) -> pd.DataFrame: ...

    # the audit log
    def append_audit(self, entries: pd.DataFrame) -> pd.DataFrame:
        """Append entries to `audit_log`, numbered and chained to the last one by hash, atomically; one
        appender at a time across processes. Returns the entries as stored (seq, prev_hash, hash)."""

    def audit_head(self) -> tuple[int, str]:
        """The last entry's (seq, hash), kept apart from the log: (0, GENESIS) when it is empty."""

    # in-place changes, for retention of personal data
    def redact_rows(self, table: str, filters: Iterable[Filter], columns: Sequence[str]) -> int:
        """Set `columns` to null in the rows matching every filter, atomically; returns rows changed."""

    def delete_rows(self, table: str, filters: Iterable[Filter]) -> int:
        """Delete the rows matching every filter (at least one), atomically; returns rows deleted."""


# ---------------------------------------------------------------------------------------------------------
# helpers shared by the backends


def to_arrow(table: TableSpec, data: Frame) -> pa.Table:
    """Conform a frame to a table's schema: known columns in order, missing ones null, geometry as WKB.

    Unknown columns are an error (a typo would otherwise be dropped silently). So is anything a backend
    could not store the same way: text with NUL characters (PostgreSQL rejects them) and geometries that
    are not valid WKB or not of the column's kind. Geometries become 2D WKB in WGS84 (a GeoSeries in
    another CRS is reprojected), so both backends hold the same bytes.
    """
    names = data.column_names if isinstance(data, pa.Table) else list(data.columns)
    extra = set(names) - set(table.columns)
    if extra:
        raise StoreError(f"table {table.name}: unknown columns {sorted(extra)}")
    n = data.num_rows if isinstance(data, pa.Table) else len(data)
    arrays = []
    for f in table.schema:
        if f.name not in names:
            arrays.append(pa.nulls(n, f.type))
            continue
        col = data.column(f.name) if isinstance(data, pa.Table) else data[f.name]
        if table.geometry == f.name:
            arrays.append(_geometry_to_arrow(table, col))
            continue
        arr = _arrow_column_cast(col, f) if isinstance(data, pa.Table) else _column_to_arrow(col, f)
        if pa.types.is_string(f.type) and pc.any(pc.match_substring(arr, "\x00")).as_py():
            raise StoreError(f"table {table.name}, column {f.name!r}: text contains NUL characters")
        arrays.append(arr)
    return pa.Table.from_arrays(arrays, schema=table.schema)


def _arrow_column_cast(col: pa.ChunkedArray, f: pa.Field) -> pa.ChunkedArray:
    try:
        return col.cast(f.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise StoreError(f"column {f.name!r}: cannot store values as {f.type}: {exc}") from exc


def _geometry_to_arrow(table: TableSpec, col: Any) -> pa.Array:
    """Shapely objects, WKB bytes or hex, or a GeoSeries in any CRS → validated 2D WKB in WGS84."""
    if isinstance(col, gpd.GeoSeries):
        if col.crs is not None and col.crs.to_epsg() != 4326:
            col = col.to_crs(4326)
        values = np.asarray(col.array, dtype=object)
    elif isinstance(col, pa.ChunkedArray | pa.Array):
        values = np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)
    else:
        values = np.asarray(col, dtype=object)
    geoms = _conform_kind(table, _parse_geometries(table, values))
    return pa.array(shapely.to_wkb(geoms, output_dimension=2), type=pa.binary())


def _parse_geometries(table: TableSpec, values: np.ndarray) -> np.ndarray:
    is_geom = shapely.is_geometry(values)
    raw = ~is_geom & ~pd.isna(values)
    geoms = np.where(is_geom, values, None)
    if raw.any():
        try:
            geoms[raw] = shapely.from_wkb(values[raw])
        except (shapely.errors.GEOSException, TypeError, ValueError) as exc:
            raise StoreError(f"table {table.name}, column {table.geometry!r}: not a geometry: {exc}") from exc
    return geoms


_GEOMETRY_TYPE_IDS = {"Point": {0}, "MultiPolygon": {6}}


def _conform_kind(table: TableSpec, geoms: np.ndarray) -> np.ndarray:
    """Polygons become MultiPolygons where the column wants those; any other kind is an error."""
    type_ids = shapely.get_type_id(geoms)
    if table.geometry_type == "MultiPolygon":
        polys = type_ids == 3
        empty = polys & shapely.is_empty(geoms)
        geoms[empty] = shapely.from_wkt("MULTIPOLYGON EMPTY")
        polys &= ~empty
        if polys.any():
            geoms[polys] = shapely.multipolygons(geoms[polys], indices=np.arange(int(polys.sum())))
        type_ids = shapely.get_type_id(geoms)
    allowed = _GEOMETRY_TYPE_IDS.get(table.geometry_type or "")
    wrong = (type_ids >= 0) & ~np.isin(type_ids, list(allowed or ())) if allowed else np.zeros(0, bool)
    if wrong.any():
        kinds = sorted({shapely.GeometryType(i).name for i in type_ids[wrong].tolist()})
        raise StoreError(
            f"table {table.name}, column {table.geometry!r}: expected {table.geometry_type} geometries, "
            f"got {kinds}"
        )
    return geoms


def _column_to_arrow(col: pd.Series, f: pa.Field) -> pa.Array:
    try:
        if pa.types.is_date32(f.type) and not pd.api.types.is_object_dtype(col.dtype):
            values = (
                pd.to_datetime(col).dt.date if not pd.api.types.is_datetime64_any_dtype(col) else col.dt.date
            )
            return pa.array(values, type=f.type, from_pandas=True)
        if pa.types.is_timestamp(f.type):
            values = pd.to_datetime(col, utc=True)
            return pa.array(values, type=f.type, from_pandas=True)
        return pa.array(col, type=f.type, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
        raise StoreError(f"column {f.name!r}: cannot store values as {f.type}: {exc}") from exc


def to_frame(table: TableSpec, data: pa.Table) -> pd.DataFrame:
    """Arrow → pandas, with the geometry column (if read) decoded into a GeoDataFrame in WGS84."""
    df = data.to_pandas(types_mapper=_types_mapper, date_as_object=False)
    for f in data.schema:
        if pa.types.is_date32(f.type):
            df[f.name] = pd.to_datetime(df[f.name])
    if table.geometry and table.geometry in df.columns:
        geom = shapely.from_wkb(df[table.geometry].to_numpy(dtype=object))
        df = gpd.GeoDataFrame(df.drop(columns=[table.geometry]), geometry=geom, crs="EPSG:4326")
        if table.geometry != "geometry":
            df = df.rename_geometry(table.geometry)
    return df


def _types_mapper(t: pa.DataType) -> Any:
    # Nullable integers and booleans keep their missing values instead of turning into floats.
    if pa.types.is_integer(t):
        return {
            pa.int8(): pd.Int8Dtype(),
            pa.int16(): pd.Int16Dtype(),
            pa.int32(): pd.Int32Dtype(),
            pa.int64(): pd.Int64Dtype(),
            pa.uint64(): pd.UInt64Dtype(),
        }.get(t)
    if pa.types.is_boolean(t):
        return pd.BooleanDtype()
    return None


OPERATORS = ("=", "!=", "<", "<=", ">", ">=", "in", "not in", "is null", "not null")


def check_filters(table: TableSpec, filters: Iterable[Filter]) -> list[Filter]:
    """Validate filter triples and convert their values to the column's type.

    Both backends then compare the same typed values (an ISO string becomes a date, 0.7 on a float32 column
    is the float32 0.7) and reject the same mistakes. Comparisons never match null: a null column value
    fails `=`, `!=`, `<`, … and `not in` alike, and comparing with None is an error (use `is null`).
    """
    out: list[Filter] = []
    for flt in filters:
        if not isinstance(flt, tuple | list) or len(flt) != 3:
            raise StoreError(f"filter {flt!r}: expected (column, op, value)")
        col, op, value = flt
        if col not in table.columns:
            raise StoreError(f"table {table.name}: no column {col!r} to filter on")
        if op not in OPERATORS:
            raise StoreError(f"filter on {col!r}: unknown operator {op!r}; known: {', '.join(OPERATORS)}")
        if col == table.geometry:
            raise StoreError(f"filter on {col!r}: geometry columns cannot be filtered on")
        typ = table.schema.field(col).type
        if op in ("is null", "not null"):
            value = None
        elif op in ("in", "not in"):
            if isinstance(value, str | bytes) or not isinstance(value, Iterable):
                raise StoreError(f"filter on {col!r}: {op!r} needs a list of values, got {value!r}")
            value = [filter_value(col, v, typ) for v in value]
        else:
            value = filter_value(col, value, typ)
        out.append((col, op, value))
    return out


def filter_value(col: str, value: Any, typ: pa.DataType) -> Any:
    """One filter value as the Python value of the column's Arrow type (StoreError if it does not fit)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise StoreError(f"filter on {col!r}: cannot compare with {value!r}; use 'is null' or 'not null'")
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if pa.types.is_date32(typ):
        if isinstance(value, str):
            value = _parse_iso(col, value, dt.date.fromisoformat)
        elif isinstance(value, dt.datetime):
            value = value.date()
    if pa.types.is_timestamp(typ):
        if isinstance(value, str):
            value = _parse_iso(col, value, dt.datetime.fromisoformat)
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)  # naive times are UTC, as everywhere in riskmap
    if pa.types.is_integer(typ) and isinstance(value, float | np.floating) and not float(value).is_integer():
        raise StoreError(f"filter on {col!r}: {value!r} is not an integer")
    try:
        return pa.scalar(value, type=typ).as_py()
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as exc:
        raise StoreError(f"filter on {col!r}: {value!r} is not a valid {typ} value") from exc


def _parse_iso(col: str, value: str, parse: Any) -> Any:
    try:
        return parse(value)
    except ValueError as exc:
        raise StoreError(f"filter on {col!r}: {value!r} is not an ISO 8601 date or time") from exc


def check_balanced(batch: BatchInfo) -> None:
    """Refuse a batch whose account does not add up (rows would be lost or invented)."""
    if not batch.balanced:
        raise StoreError(
            f"batch {batch.file_name}: account does not balance (rows in {batch.rows_in} != accepted "
            f"{batch.accepted} + corrected {batch.corrected} + quarantined {batch.quarantined} + "
            f"duplicates {batch.duplicates})"
        )


def dump_json(value: Mapping[str, Any]) -> str:
    """A batch report or snapshot stats as strict JSON, the same text for both backends.

    NaN and infinities become null (JSON has no such numbers and PostgreSQL's json type rejects them);
    numpy scalars and arrays become numbers and lists; anything else unknown becomes its string.
    """
    return json.dumps(_plain(dict(value)), default=str, ensure_ascii=False, allow_nan=False)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic | np.ndarray):
        value = value.tolist()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def table_spec(name: str, *, snapshot: bool | None = None) -> TableSpec:
    """Look up a table and check it is (or is not) a snapshot table."""
    try:
        t = spec(name)
    except KeyError as exc:
        raise StoreError(str(exc)) from None
    if snapshot is not None and t.snapshot != snapshot:
        kind = "a snapshot table" if t.snapshot else "not a snapshot table"
        raise StoreError(f"table {name!r} is {kind}")
    return t


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime | dt.date) -> dt.datetime:
    """A time in UTC: naive times are taken as UTC, dates as their midnight UTC."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return dt.datetime.combine(value, dt.time(), tzinfo=dt.UTC)


# ---------------------------------------------------------------------------------------------------------
# the audit log's hash chain (the same bytes on both backends)

GENESIS = "0" * 64
AUDIT_CONTENT = ("seq", "at", "actor", "action", "target", "outcome", "ip", "detail")


def _micros(value: Any) -> int:
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return int(ts.value // 1000)


def audit_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    """sha256 of the previous hash and the entry's content as canonical JSON (time in UTC microseconds)."""
    content = []
    for k in AUDIT_CONTENT:
        v = entry.get(k)
        if k == "at":
            v = _micros(v)
        elif k == "seq":
            v = int(v)
        elif v is not None and not isinstance(v, str):
            v = None if pd.isna(v) else str(v)
        content.append(v)
    text = json.dumps([prev_hash, *content], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chain_audit(head: tuple[int, str], entries: pd.DataFrame) -> pd.DataFrame:
    """Number entries after `head` and chain them: each one's prev_hash is the hash before it."""
    seq, prev = head
    out = entries.copy().reset_index(drop=True)
    for c in AUDIT_CONTENT:
        if c not in out.columns:
            out[c] = None
    if out["at"].isna().any():
        out.loc[out["at"].isna(), "at"] = utcnow()
    out["at"] = pd.to_datetime(out["at"], utc=True).dt.floor("us")
    out["seq"] = np.arange(seq + 1, seq + 1 + len(out), dtype=np.int64)
    prevs, hashes = [], []
    for row in out.to_dict("records"):
        h = audit_hash(prev, row)
        prevs.append(prev)
        hashes.append(h)
        prev = h
    out["prev_hash"] = prevs
    out["hash"] = hashes
    return out
