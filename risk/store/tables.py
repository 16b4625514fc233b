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
    # (lon, lat) columns of a point table: PostGIS keeps a generated `geom_3857` point for tiles
    points: tuple[str, str] | None = None
    # PostGIS: LIST-partitioned by this column (one partition per value, made on first write, and a
    # default partition for rows without one); the embedded store ignores it
    partition_by: str | None = None

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
        # GSO code of the province ("79": Ho Chi Minh City); the partition key of PostGIS's households
        ("province", STR),
    ),
    key=("household_id",),
    indexes=(("ward_id",), ("group_id",), ("point_id",)),
    points=("lon", "lat"),
    partition_by="province",
)

# Every polygon the map draws (wards, neighbourhood groups, H3 cells 8-10, the city), derived from the
# tables above by `api.tiles.prepare`: one geometry source for GeoJSON and for both tile backends, with
# the household count of each unit that serving-side privacy (k-anonymity) needs. `detail` 0 is the full
# geometry; wards and groups also have rows generalised for low zooms (detail = the last zoom they serve).
# Rows are written in spatial order so that a tile reads few pages.
MAP_UNITS = TableSpec(
    "map_units",
    _schema(
        ("unit_type", STR),
        ("unit_id", STR),
        ("parent_id", STR),
        ("ward_id", STR),
        ("name", STR),
        ("households", I32),
        ("detail", I8),
        ("geometry", WKB),
    ),
    key=("unit_type", "detail", "unit_id"),
    geometry="geometry",
    geometry_type="MultiPolygon",
    indexes=(("ward_id",),),
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

# Household levels (riskmap's own scheme, `riskmap-household`): typed columns, no JSON, because a city has
# millions of households. `reasons` is a bit mask of the household profile's steps that fired (bit i = step
# i in profile order; the profile id and version are in the snapshot's stats["profiles"]["household"]);
# the count columns are the metrics the steps read; `flag_*` drive follow-up and welfare-support lists.
HOUSEHOLD_LEVELS = TableSpec(
    "household_levels",
    _schema(
        ("snapshot_id", I64),
        ("household_id", I64),
        ("ward_id", STR),
        ("group_id", STR),
        ("h3_9", U64),
        ("h3_10", U64),
        ("level", I8),
        ("neighbourhood_level", I8),
        ("reasons", I64),
        ("members", I16),
        ("older", I16),
        ("elderly", I16),
        ("comorbid", I16),
        ("unvaccinated", I16),
        ("active_f0", I16),
        ("positive_tests_7d", I16),
        ("f1_quarantined", I16),
        ("vulnerable_unvaccinated", I16),
        ("elderly50_under_vaccinated", I16),
        ("booster_due", I16),
        ("flag_f0", BOOL),
        ("flag_f1", BOOL),
        ("flag_positive", BOOL),
        ("flag_elderly_unvaccinated", BOOL),
        ("flag_booster_due", BOOL),
        ("flag_support", BOOL),
        ("model_probability", F32),
    ),
    key=("snapshot_id", "household_id"),
    snapshot=True,
    indexes=(("snapshot_id", "ward_id", "level"),),
)

# The follow-up and support flags of `household_levels`, column → short code (tiles, answers, exports).
HOUSEHOLD_FLAGS: dict[str, str] = {
    "flag_f0": "f0",
    "flag_f1": "f1",
    "flag_positive": "positive",
    "flag_elderly_unvaccinated": "elderly_unvaccinated",
    "flag_booster_due": "booster_due",
    "flag_support": "support",
}

# Trained risk models (risk.model): append-only registry. A snapshot names the model it applied
# (stats["model"]: model_id, version, sha256); the artifact is the fitted scikit-learn estimator, pickled.
MODELS = TableSpec(
    "models",
    _schema(
        ("model_id", STR),
        ("version", STR),
        ("kind", STR),
        ("trained_at", TS),
        ("train_from", DATE),
        ("train_to", DATE),
        ("features", STR),
        ("params", STR),
        ("metrics", STR),
        ("sha256", STR),
        ("artifact", pa.binary()),
    ),
    key=("model_id",),
    indexes=(("kind", "trained_at"),),
)

# Trust: users, API keys and the audit log (api/auth, api/audit). Users and keys change by appending a new
# version of their row (the highest `version` of an id wins), so every change is atomic on both backends
# and the history of who could do what stays readable. The audit log is appended only through
# `Store.append_audit`, which chains each entry to the previous one by hash.
USERS = TableSpec(
    "users",
    _schema(
        ("user_id", STR),
        ("version", I64),
        ("name", STR),
        ("roles", STR),  # ';'-joined role names
        ("view_units", STR),  # ';'-joined admin-unit ids; null = everywhere
        ("capture_units", STR),
        ("active", BOOL),
        ("changed_at", TS),
        ("changed_by", STR),
    ),
    key=("user_id", "version"),
)

API_KEYS = TableSpec(
    "api_keys",
    _schema(
        ("key_id", STR),  # the public prefix of the key (rk_<key_id>_<secret>)
        ("version", I64),
        ("user_id", STR),
        ("secret_hash", STR),  # scrypt$n$r$p$salt$hash of the secret; the secret itself is never stored
        ("label", STR),
        ("created_at", TS),
        ("expires_at", TS),
        ("revoked_at", TS),
        ("replaced_by", STR),  # key_id of the key a rotation issued
        ("rate_per_s", F64),  # this key's rate limit (null: the default)
        ("changed_at", TS),
        ("changed_by", STR),
    ),
    key=("key_id", "version"),
    indexes=(("user_id",),),
)

AUDIT_LOG = TableSpec(
    "audit_log",
    _schema(
        ("seq", I64),  # 1, 2, 3, … without gaps
        ("at", TS),
        ("actor", STR),  # user id, "key:<key_id>", "cli:<os user>" or "public"
        ("action", STR),  # e.g. auth.login, household.view, export, ingest, correction, user.create
        ("target", STR),
        ("outcome", STR),  # ok, denied, failed, or an HTTP status
        ("ip", STR),
        ("detail", STR),  # JSON
        ("prev_hash", STR),
        ("hash", STR),  # sha256 of the previous hash and this entry's canonical JSON
    ),
    key=("seq",),
    indexes=(("at",), ("actor",), ("action",)),
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
        MAP_UNITS,
        LINK_REVIEWS,
        LINKED_BATCHES,
        LEVELS,
        HOUSEHOLD_LEVELS,
        MODELS,
        USERS,
        API_KEYS,
        AUDIT_LOG,
    )
}


def spec(name: str) -> TableSpec:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known tables: {', '.join(sorted(TABLES))}") from None
