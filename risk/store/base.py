"""The store contract: what every backend (embedded, PostGIS) offers, and the helpers they share.

Everything that persists domain data goes through a `Store`. Writes are atomic per call: `write_tables`
either lands every table it was given or none; `commit_batch` lands an ingest batch (its rows, its
quarantined rows and its account) at once and is idempotent by content hash; `write_snapshot` makes an
immutable snapshot visible only when complete, and `publish_snapshot` switches readers to it at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, runtime_checkable

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
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

    # tables
    def write_tables(self, tables: Mapping[str, Frame], *, mode: Mode = "append") -> None:
        """Write several tables atomically: all land or none does."""

    def read_table(
        self, table: str, *, columns: Sequence[str] | None = None, filters: Iterable[Filter] = ()
    ) -> pd.DataFrame: ...

    def count(self, table: str, *, filters: Iterable[Filter] = ()) -> int: ...

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


# ---------------------------------------------------------------------------------------------------------
# helpers shared by the backends


def to_arrow(table: TableSpec, data: Frame) -> pa.Table:
    """Conform a frame to a table's schema: known columns in order, missing ones null, geometry as WKB.

    Unknown columns are an error (a typo would otherwise be dropped silently).
    """
    if isinstance(data, pa.Table):
        frame = data
        extra = set(frame.column_names) - set(table.columns)
        if extra:
            raise StoreError(f"table {table.name}: unknown columns {sorted(extra)}")
        arrays = []
        for f in table.schema:
            if f.name in frame.column_names:
                arrays.append(frame.column(f.name).cast(f.type))
            else:
                arrays.append(pa.nulls(frame.num_rows, f.type))
        return pa.Table.from_arrays(arrays, schema=table.schema)

    df = data
    extra = set(df.columns) - set(table.columns)
    if extra:
        raise StoreError(f"table {table.name}: unknown columns {sorted(extra)}")
    n = len(df)
    arrays = []
    for f in table.schema:
        if f.name not in df.columns:
            arrays.append(pa.nulls(n, f.type))
            continue
        col = df[f.name]
        if table.geometry == f.name:
            arrays.append(_geometry_to_wkb(col, table.geometry_type))
            continue
        arrays.append(_column_to_arrow(col, f))
    return pa.Table.from_arrays(arrays, schema=table.schema)


def _geometry_to_wkb(col: pd.Series, geometry_type: str | None) -> pa.Array:
    """Shapely geometries (or WKB bytes already) → a WKB column; polygons widened to MultiPolygons."""
    values = np.asarray(col.array if isinstance(col, gpd.GeoSeries) else col.to_numpy(), dtype=object)
    is_geom = shapely.is_geometry(values)
    out = (
        np.array([v if isinstance(v, bytes) else None for v in values], dtype=object)
        if (~is_geom).any()
        else np.empty(len(values), dtype=object)
    )
    if is_geom.any():
        geoms = values[is_geom]
        if geometry_type == "MultiPolygon":
            single = shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON
            if single.any():
                geoms = geoms.copy()
                geoms[single] = shapely.multipolygons(geoms[single][:, None])
        out[is_geom] = shapely.to_wkb(geoms)
    return pa.array(out, type=pa.binary())


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


def check_filters(table: TableSpec, filters: Iterable[Filter]) -> list[Filter]:
    """Validate filter triples against a table so both backends reject the same mistakes."""
    out = []
    for flt in filters:
        if len(flt) != 3:
            raise StoreError(f"filter {flt!r}: expected (column, op, value)")
        col, op, value = flt
        if col not in table.columns:
            raise StoreError(f"table {table.name}: no column {col!r} to filter on")
        if op not in ("=", "!=", "<", "<=", ">", ">=", "in", "not in", "is null", "not null"):
            raise StoreError(f"filter on {col!r}: unknown operator {op!r}")
        if op in ("in", "not in"):
            value = list(value)
        out.append((col, op, value))
    return out


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
