"""The tables every store backend holds: one declaration, read by both backends and by the contract tests.

Each table is an Arrow schema plus, where it has one, the name and kind of its geometry column (stored
as WKB in WGS84). The PostGIS migrations create the same columns (a contract test compares them).
Snapshot tables are keyed by `snapshot_id` and never change once written.

Column conventions: ids of admin units are `"<version>:<code>"` strings (codes are reused across
versions); H3 cells are unsigned 64-bit integers; dates are `date32`; times are UTC timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

STR = pa.string()
I8 = pa.int8()
I16 = pa.int16()
I32 = pa.int32()
I64 = pa.int64()
U64 = pa.uint64()
F32 = pa.float32()
F64 = pa.float64()
BOOL = pa.bool_()
DATE = pa.date32()
TS = pa.timestamp("us", tz="UTC")
WKB = pa.binary()


@dataclass(frozen=True)
class TableSpec:
    """A table's name, columns, key and (optional) geometry column."""

    name: str
    schema: pa.Schema
    key: tuple[str, ...] = ()
    geometry: str | None = None
    geometry_type: str | None = None  # "MultiPolygon", "Point", "Geometry" (PostGIS column type)
    snapshot: bool = False  # belongs to a snapshot (rows carry snapshot_id)
    indexes: tuple[tuple[str, ...], ...] = field(default=())

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)


def _schema(*cols: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(n, t) for n, t in cols])


H3_COLUMNS = tuple(f"h3_{r}" for r in range(7, 12))

ADMIN_UNITS = TableSpec(
    "admin_units",
    _schema(
        ("version", STR),
        ("unit_id", STR),
        ("code", STR),
        ("name", STR),
        ("name_en", STR),
        ("full_name", STR),
        ("level", STR),
        ("unit_type", STR),
        ("parent_id", STR),
        ("valid_from", DATE),
        ("valid_to", DATE),
        ("population", I64),
        ("area_km2", F64),
        ("geometry", WKB),
    ),
    key=("unit_id",),
    geometry="geometry",
    geometry_type="MultiPolygon",
    indexes=(("version", "level"), ("parent_id",)),
)

CROSSWALKS = TableSpec(
    "crosswalks",
    _schema(
        ("from_version", STR),
        ("from_unit_id", STR),
        ("to_version", STR),
        ("to_unit_id", STR),
        ("share_of_from", F64),
        ("share_of_to", F64),
        ("population", F64),
        ("kind", STR),
    ),
    key=("from_unit_id", "to_unit_id"),
    indexes=(("from_version", "to_version"),),
)

GROUPS = TableSpec(
    "groups",
    _schema(
        ("group_id", STR),
        ("ward_id", STR),
        ("parent_group_id", STR),
        ("name", STR),
        ("kind", STR),
        ("households", I32),
        ("geometry", WKB),
    ),
    key=("group_id",),
    geometry="geometry",
    geometry_type="MultiPolygon",
    indexes=(("ward_id",),),
)

ADDRESS_POINTS = TableSpec(
    "address_points",
    _schema(
        ("point_id", I64),
        ("ward_id", STR),
        ("group_id", STR),
        ("house_number", STR),
        ("alley", STR),
        ("street", STR),
        ("khu_pho", STR),
        ("address", STR),
        ("match_key", STR),
        ("lon", F64),
        ("lat", F64),
        *((c, U64) for c in H3_COLUMNS),
    ),
    key=("point_id",),
    indexes=(("ward_id",), ("match_key",)),
)

# One row per ingested record, whatever its kind; kind-specific columns are null elsewhere.
RECORDS = TableSpec(
    "records",
    _schema(
        ("record_id", I64),
        ("batch_id", I64),
        ("source", STR),
        ("kind", STR),
        ("row_number", I32),
        ("row_hash", STR),
        # who
        ("full_name_raw", STR),
        ("full_name", STR),
        ("name_key", STR),
        ("birth_date", DATE),
        ("birth_precision", STR),
        ("birth_year", I16),
        ("sex", STR),
        ("id_number", STR),
        ("id_kind", STR),
        ("phone", STR),
        # where
        ("address_raw", STR),
        ("point_id", I64),
        ("ward_id", STR),
        ("geocode_tier", STR),
        ("geocode_confidence", F32),
        # what and when
        ("event_date", DATE),
        ("vaccine", STR),
        ("dose_kind", STR),
        ("site", STR),
        ("test_type", STR),
        ("pooled", BOOL),
        ("result", STR),
        ("found_in", STR),
        ("isolation", STR),
        ("outcome", STR),
        ("contact_of", STR),
        ("household_ref", STR),
        ("relation", STR),
        ("source_ref", STR),
        ("exposure_date", DATE),
        # how it was cleaned: reason codes of corrections applied, ';'-joined
        ("corrections", STR),
    ),
    key=("record_id",),
    indexes=(("kind", "event_date"), ("batch_id",), ("id_number",)),
)

QUARANTINE = TableSpec(
    "quarantine",
    _schema(
        ("batch_id", I64),
        ("source", STR),
        ("file_name", STR),
        ("row_number", I32),
        ("kind", STR),
        ("raw", STR),
        ("reasons", STR),
        ("message", STR),
        ("status", STR),
        ("resolved_batch_id", I64),
        ("ward_id", STR),
    ),
    key=("batch_id", "row_number"),
    indexes=(("source",), ("status",)),
)

# Quarantined rows corrected and re-submitted: appended with the batch that carried the correction, in the
# same atomic commit (the quarantine table itself is append-only).
QUARANTINE_RESOLUTIONS = TableSpec(
    "quarantine_resolutions",
    _schema(
        ("batch_id", I64),
        ("row_number", I32),
        ("resolved_batch_id", I64),
        ("resolved_row_number", I32),
        ("status", STR),
        ("resolved_at", TS),
    ),
    key=("batch_id", "row_number"),
    indexes=(("resolved_batch_id",),),
)

PERSONS = TableSpec(
    "persons",
    _schema(
        ("person_id", I64),
        ("household_id", I64),
        ("full_name", STR),
        ("name_key", STR),
        ("birth_date", DATE),
        ("birth_year", I16),
        ("sex", STR),
        ("id_number", STR),
        ("id_kind", STR),
        ("phone", STR),
        ("comorbid", BOOL),
        ("origin", STR),
    ),
    key=("person_id",),
    indexes=(("household_id",), ("id_number",)),
)

HOUSEHOLDS = TableSpec(
    "households",
    _schema(
        ("household_id", I64),
        ("household_ref", STR),
        ("point_id", I64),
        ("ward_id", STR),
        ("group_id", STR),
        ("address", STR),
        ("head_person_id", I64),
        ("size", I16),
        ("lon", F64),
        ("lat", F64),
        *((c, U64) for c in H3_COLUMNS),
    ),
    key=("household_id",),
    indexes=(("ward_id",), ("group_id",), ("point_id",)),
)

LINKS = TableSpec(
    "links",
    _schema(
        ("record_id", I64),
        ("person_id", I64),
        ("probability", F32),
        ("method", STR),
        ("linked_at", TS),
        ("match_weight", F32),
        ("same_as", I64),
        ("flags", STR),
    ),
    key=("record_id",),
    indexes=(("person_id",),),
)

# Records without a confident match: their best candidates, for a person to decide (never guessed).
LINK_REVIEWS = TableSpec(
    "link_reviews",
    _schema(
        ("record_id", I64),
        ("person_id", I64),
        ("probability", F32),
        ("match_weight", F32),
        ("rank", I8),
        ("reason", STR),
        ("created_at", TS),
    ),
    key=("record_id", "person_id"),
    indexes=(("record_id",),),
)

# Which batches the incremental linker has linked (written with their links, atomically).
LINKED_BATCHES = TableSpec(
    "linked_batches",
    _schema(("batch_id", I64), ("mode", STR), ("linked_at", TS)),
    key=("batch_id",),
)

# Snapshot tables: immutable once their snapshot is written.
LEVELS = TableSpec(
    "levels",
    _schema(
        ("snapshot_id", I64),
        ("unit_type", STR),
        ("unit_id", STR),
        ("parent_id", STR),
        ("name", STR),
        ("level", I8),
        ("profile", STR),
        ("profile_version", STR),
        ("population", I64),
        ("metrics", STR),
        ("reasons", STR),
        ("pending_level", I8),
        ("pending_effective_at", TS),
    ),
    key=("snapshot_id", "unit_type", "unit_id"),
    snapshot=True,
    indexes=(("snapshot_id", "unit_type", "level"),),
)

TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        ADMIN_UNITS,
        CROSSWALKS,
        GROUPS,
        ADDRESS_POINTS,
        RECORDS,
        QUARANTINE,
        QUARANTINE_RESOLUTIONS,
        PERSONS,
        HOUSEHOLDS,
        LINKS,
        LINK_REVIEWS,
        LINKED_BATCHES,
        LEVELS,
    )
}


def spec(name: str) -> TableSpec:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known tables: {', '.join(sorted(TABLES))}") from None
