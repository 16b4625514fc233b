"""Vector tiles straight from PostGIS: the SQL behind `PostgisStore.tile` / `tile_async`.

One statement per tile: `ST_AsMVT` over `ST_AsMVTGeom(geom_3857, ST_TileEnvelope(z, x, y), 4096, 64,
true)` of the rows whose pre-projected geometry meets the tile (`geom_3857 && envelope`, a GiST lookup;
`map_units` has one partial index per drawn unit type), joined to the snapshot's levels. Nothing is cut:
there is no LIMIT, a tile holds every feature of its area.

What varies between calls of one layer (z, x, y, k, a caller's scope) travels as parameters, so the
statement text repeats and psycopg prepares it per connection; what picks indexes and partitions (unit
type, snapshot ids) is written into the text. A delta snapshot's tiles read its chain: for each unit,
the row of the newest snapshot in the chain that has one.

Feature properties, the same as the embedded renderer writes (`api.tiles.render`): `unit_id`, `name`
(wards and groups), `level` (absent when the snapshot has no row, or the unit is suppressed),
`pending` (a raise announced), `suppressed` (true for groups and cells below k households, shown to
callers without household access), `hotspot` (H3 cells flagged by the snapshot); household points carry
`level` and `flags` only, never an identifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from psycopg import sql

from risk.store.tables import HOUSEHOLD_FLAGS

SMALL_AREA_TYPES = ("group", "h3_8", "h3_9", "h3_10")
H3_TYPES = ("h3_8", "h3_9", "h3_10")
GENERALISED = ("ward", "group")  # unit types with outlines per zoom band (map_units.detail)
# the scoring writes hotspot = 1 (hot), -1 (cold), 0 in a cell's metrics; true is read too
HOTSPOT = "(l.metrics::json ->> 'hotspot') IN ('true', '1', '1.0')"


@dataclass(frozen=True)
class TileQuery:
    """One vector tile of one layer."""

    layer: str  # the MVT layer's name
    source: Literal["units", "households"]
    z: int
    x: int
    y: int
    chain: tuple[int, ...]  # the snapshot and, for a delta, the snapshots it amends (oldest first)
    unit_type: str | None = None  # units: ward, group, h3_8, h3_9, h3_10
    detail: int = 0  # which outline of the units (map_units.detail: generalised ones for low zooms)
    k: int | None = None  # suppress groups and cells below k households (None: show every level)
    hotspots_only: bool = False
    scope: tuple[str, ...] | None = None  # households: ward / group ids the caller may see (None: all)
    provinces: tuple[str, ...] | None = None  # households: the partitions to read (None: every one)
    extent: int = 4096
    buffer: int = 64


def _level_join(
    table: str, key: sql.Composable, chain: tuple[int, ...], unit_type: str | None
) -> sql.Composable:
    """Join the level rows of a snapshot chain (one row per feature: the newest that has one)."""
    type_cond = sql.SQL(" AND l.unit_type = {}").format(sql.Literal(unit_type)) if unit_type else sql.SQL("")
    if len(chain) == 1:
        return sql.SQL("LEFT JOIN {} l ON l.snapshot_id = {}{} AND {}").format(
            sql.Identifier(table), sql.Literal(chain[0]), type_cond, key
        )
    return sql.SQL(
        "LEFT JOIN LATERAL (SELECT * FROM {} l WHERE l.snapshot_id IN ({}){} AND {}"
        " ORDER BY l.snapshot_id DESC LIMIT 1) l ON true"
    ).format(
        sql.Identifier(table),
        sql.SQL(", ").join(sql.Literal(s) for s in chain),
        type_cond,
        key,
    )


def tile_sql(q: TileQuery) -> tuple[sql.Composable, dict[str, Any]]:
    """The statement and parameters of one tile (tables unqualified: the store's search_path)."""
    if not q.chain:
        raise ValueError("a tile needs the snapshot it draws")
    params: dict[str, Any] = {"z": q.z, "x": q.x, "y": q.y}

    def geom(col: str) -> sql.Composable:
        return sql.SQL("ST_AsMVTGeom({}, ST_TileEnvelope(%(z)s, %(x)s, %(y)s), {}, {}, true) AS geom").format(
            sql.SQL(col), sql.Literal(q.extent), sql.Literal(q.buffer)
        )

    def near(col: str) -> sql.Composable:
        return sql.SQL("{} && ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => {})").format(
            sql.SQL(col), sql.Literal(q.buffer / q.extent)
        )

    if q.source == "households":
        join = _level_join("household_levels", sql.SQL("l.household_id = h.household_id"), q.chain, None)
        where = [near("h.geom_3857")]
        if q.provinces is not None:
            # households are partitioned by province: naming the provinces whose households' box meets
            # the tile (literals, so the planner prunes the others) leaves only their partitions and the
            # default one (households without a province)
            where.append(
                sql.SQL("(h.province IN ({}) OR h.province IS NULL)").format(
                    sql.SQL(", ").join(sql.Literal(p) for p in q.provinces)
                )
                if q.provinces
                else sql.SQL("h.province IS NULL")
            )
        if q.scope is not None:
            params["scope"] = list(q.scope)
            where.append(
                sql.SQL("(h.ward_id = ANY(%(scope)s::text[]) OR h.group_id = ANY(%(scope)s::text[]))")
            )
        flags = sql.SQL(
            "NULLIF(concat_ws(';', "
            + ", ".join(f"CASE WHEN l.{c} THEN '{code}' END" for c, code in HOUSEHOLD_FLAGS.items())
            + "), '')"
        )
        inner = sql.SQL("SELECT l.level, {} AS flags, {} FROM households h {} WHERE {}").format(
            flags, geom("h.geom_3857"), join, sql.SQL(" AND ").join(where)
        )
    elif q.source == "units":
        if not q.unit_type:
            raise ValueError("a units tile needs its unit type")
        ut = sql.Literal(q.unit_type)
        if q.unit_type in SMALL_AREA_TYPES and q.k is not None:
            params["k"] = q.k
            small = sql.SQL("(COALESCE(u.households, 0) < %(k)s)")
        else:
            small = sql.SQL("false")
        hotspot = (
            sql.SQL("CASE WHEN NOT {} AND " + HOTSPOT + " THEN true END").format(small)
            if q.unit_type in H3_TYPES
            else sql.SQL("NULL::boolean")
        )
        join = _level_join("levels", sql.SQL("l.unit_id = u.unit_id"), q.chain, q.unit_type)
        # the predicate matches a partial GiST index of migration 0003 exactly (cells have one outline)
        kind = sql.SQL("u.unit_type = {}").format(ut)
        if q.unit_type in GENERALISED:
            kind = sql.SQL("u.unit_type = {} AND u.detail = {}").format(ut, sql.Literal(q.detail))
        where = [kind, near("u.geom_3857")]
        if q.hotspots_only:
            where.append(sql.SQL("NOT {} AND " + HOTSPOT).format(small))
        inner = sql.SQL(
            "SELECT u.unit_id, u.name, CASE WHEN NOT {s} THEN l.level END AS level,"
            " CASE WHEN NOT {s} THEN l.pending_level END AS pending,"
            " CASE WHEN {s} THEN true END AS suppressed, {h} AS hotspot, {g}"
            " FROM map_units u {j} WHERE {w}"
        ).format(
            s=small,
            h=hotspot,
            g=geom("u.geom_3857"),
            j=join,
            w=sql.SQL(" AND ").join(where),
        )
    else:
        raise ValueError(f"unknown tile source {q.source!r}")
    # rows whose geometry collapsed or lies outside (NULL from ST_AsMVTGeom) are skipped by ST_AsMVT
    query = sql.SQL("SELECT ST_AsMVT(t.*, {}, {}, 'geom') FROM ({}) t").format(
        sql.Literal(q.layer), sql.Literal(q.extent), inner
    )
    return query, params
