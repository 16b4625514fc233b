"""Web Mercator tile math and Mapbox Vector Tile (MVT) encoding, vectorised where it counts.

The tiling is the one every XYZ base map uses (Vmap, OSM; OGC's WebMercatorQuad): tile (z, x, y) covers
a square of 2π·R / 2^z metres of EPSG:3857, y counted from the north. `tile_geometries` does what
PostGIS's `ST_AsMVTGeom(geom, ST_TileEnvelope(z, x, y), extent, buffer, true)` does (drop detail below
half a pixel, clip to the buffered tile, move to tile coordinates, snap to the integer grid, drop what
collapsed), so the embedded store and PostGIS draw the same tiles; `encode` writes MVT 2.1 with
numpy-built geometry commands and `decode` reads any MVT back (tests, raster rendering).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from mapbox_vector_tile.Mapbox import vector_tile_pb2

R = 6378137.0
ORIGIN = math.pi * R  # 20037508.342789244: half the width of the Web Mercator square
MAX_LAT = 85.0511287798066
EXTENT = 4096
BUFFER = 64
MAX_ZOOM = 24

_POINT, _POLYGON = vector_tile_pb2.tile.Point, vector_tile_pb2.tile.Polygon
_MOVE_TO, _LINE_TO, _CLOSE = 1, 2, 7


class TileError(ValueError):
    """An impossible tile address (z out of range, x or y outside the zoom's grid)."""


def check_tile(z: int, x: int, y: int, max_zoom: int = MAX_ZOOM) -> None:
    """Raise TileError unless (z, x, y) names a tile of the WebMercatorQuad grid."""
    if not 0 <= z <= max_zoom:
        raise TileError(f"zoom {z} is outside 0..{max_zoom}")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise TileError(f"tile {z}/{x}/{y} does not exist: at zoom {z}, x and y run from 0 to {n - 1}")


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(minx, miny, maxx, maxy) of a tile in EPSG:3857 metres (as PostGIS's ST_TileEnvelope)."""
    size = 2 * ORIGIN / (1 << z)
    minx = -ORIGIN + x * size
    maxy = ORIGIN - y * size
    return minx, maxy - size, minx + size, maxy


def tile_lonlat_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(west, south, east, north) of a tile in degrees."""
    minx, miny, maxx, maxy = tile_bounds(z, x, y)
    (w, e), (s, n) = to_lonlat(np.array([minx, maxx]), np.array([miny, maxy]))
    return float(w), float(s), float(e), float(n)


def to_mercator(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 degrees → EPSG:3857 metres (spherical Mercator, the formula PostGIS's point column uses)."""
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.clip(np.asarray(lat, dtype=np.float64), -MAX_LAT, MAX_LAT)
    return lon * ORIGIN / 180.0, np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) * R


def to_lonlat(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """EPSG:3857 metres → WGS84 degrees."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return x * 180.0 / ORIGIN, np.degrees(2 * np.arctan(np.exp(y / R)) - np.pi / 2)


def mercator_geometries(geoms: Any) -> np.ndarray:
    """Shapely geometries in WGS84 → the same in EPSG:3857 (vectorised over all coordinates)."""

    def project(coords: np.ndarray) -> np.ndarray:
        x, y = to_mercator(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(np.asarray(geoms, dtype=object), project)


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The (x, y) of the tile holding a point at zoom z."""
    n = 1 << z
    mx, my = to_mercator(lon, lat)
    x = int((float(mx) + ORIGIN) / (2 * ORIGIN) * n)
    y = int((ORIGIN - float(my)) / (2 * ORIGIN) * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


def tiles_covering(bounds: Sequence[float], z: int) -> Iterator[tuple[int, int, int]]:
    """Every tile (z, x, y) that a lon/lat box (west, south, east, north) touches."""
    w, s, e, n = bounds
    x0, y0 = tile_of(w, n, z)
    x1, y1 = tile_of(e, s, z)
    for x in range(x0, x1 + 1):
        for y in range(y0, y1 + 1):
            yield z, x, y


# ---------------------------------------------------------------------------------------------------------
# geometries into tile coordinates


def tile_geometries(
    geoms: np.ndarray, z: int, x: int, y: int, extent: int = EXTENT, buffer: int = BUFFER
) -> np.ndarray:
    """Geometries in EPSG:3857 → tile coordinates (integers, y down), clipped to the buffered tile.

    As ST_AsMVTGeom(…, extent, buffer, clip => true): vertices closer than half a pixel are dropped and
    lines simplified at half a pixel, the geometry is clipped to the tile plus `buffer` pixels (plus half a
    pixel that snapping may pull in), moved into tile space, snapped to the integer grid and made valid.
    Whatever collapses (or lies outside) comes back as None. Points are only moved and rounded.
    """
    geoms = np.asarray(geoms, dtype=object)
    out = np.full(len(geoms), None, dtype=object)
    if not len(geoms):
        return out
    minx, miny, maxx, maxy = tile_bounds(z, x, y)
    res = (maxx - minx) / extent
    half = res / 2
    margin = res * buffer + half
    box = (minx - margin, miny - margin, maxx + margin, maxy + margin)
    kinds = shapely.get_type_id(geoms)
    points = (kinds == 0) | (kinds == 4)
    scale = extent / (maxx - minx)

    def to_tile(coords: np.ndarray) -> np.ndarray:
        return np.column_stack([(coords[:, 0] - minx) * scale, (maxy - coords[:, 1]) * scale])

    single = kinds == 0
    if single.any():  # points: move and round, vectorised; keep those inside the buffered tile
        idx = np.nonzero(single)[0]
        xy = np.rint(to_tile(shapely.get_coordinates(geoms[idx])))
        keep = np.all((xy >= -buffer) & (xy <= extent + buffer), axis=1)
        out[idx[keep]] = shapely.points(xy[keep])
    multi = np.nonzero(kinds == 4)[0]
    if len(multi):
        moved = shapely.transform(geoms[multi], lambda c: np.rint(to_tile(c)))
        keep = shapely.intersects(moved, shapely.box(-buffer, -buffer, extent + buffer, extent + buffer))
        out[multi[keep]] = moved[keep]
    rest = np.nonzero(~points & ~shapely.is_empty(geoms) & shapely.is_geometry(geoms))[0]
    if len(rest):
        g = geoms[rest]
        g = shapely.remove_repeated_points(g, half)
        g = shapely.simplify(g, half, preserve_topology=False)
        g = shapely.clip_by_rect(g, *box)  # cheap first cut in map units, half a pixel wide of the box
        g = shapely.transform(g, to_tile)
        g = shapely.clip_by_rect(g, -buffer, -buffer, extent + buffer, extent + buffer)  # as PostGIS: exact
        g = shapely.set_precision(g, 1.0)
        kinds = shapely.get_type_id(g)
        mixed = np.nonzero(kinds == 7)[0]  # snapping can leave lines beside polygons: keep the polygons
        if len(mixed):
            g[mixed] = _polygon_parts(g[mixed])
            kinds = shapely.get_type_id(g)
        ok = np.isin(kinds, (3, 6)) & ~shapely.is_empty(g)
        out[rest[ok]] = g[ok]
    return out


def _polygon_parts(geoms: np.ndarray) -> np.ndarray:
    """The polygons of geometry collections (snapping can leave lines beside polygons); None if none."""
    out = np.full(len(geoms), None, dtype=object)
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            continue
        parts = [p for p in getattr(g, "geoms", [g]) if p.geom_type in ("Polygon", "MultiPolygon")]
        if parts:
            out[i] = shapely.union_all(parts)
    return out


# ---------------------------------------------------------------------------------------------------------
# encoding


@dataclass(frozen=True)
class Layer:
    """One MVT layer: geometries in tile coordinates (from `tile_geometries`) and their properties."""

    name: str
    geometries: Sequence[Any]
    properties: Sequence[Mapping[str, Any]]
    ids: Sequence[int | None] | None = None
    extent: int = EXTENT


def _zigzag(v: np.ndarray) -> np.ndarray:
    return ((v << 1) ^ (v >> 63)).astype(np.int64)


def _ring_commands(coords: np.ndarray, cursor: list[int], closed: bool) -> list[int]:
    pts = np.asarray(coords, dtype=np.int64)
    if closed:
        pts = pts[:-1]
    if len(pts):  # drop consecutive duplicates: MVT wants no zero-length segments
        keep = np.ones(len(pts), dtype=bool)
        keep[1:] = np.any(pts[1:] != pts[:-1], axis=1)
        pts = pts[keep]
    if closed and len(pts) < 3:
        return []
    start = np.array(cursor, dtype=np.int64)
    deltas = np.diff(np.vstack([start, pts]), axis=0)
    cursor[0], cursor[1] = int(pts[-1, 0]), int(pts[-1, 1])
    zz = _zigzag(deltas).ravel().tolist()
    out = [(1 << 3) | _MOVE_TO, zz[0], zz[1]]
    n = len(pts) - 1
    if n:
        out.append((n << 3) | _LINE_TO)
        out.extend(zz[2:])
    if closed:
        out.append((1 << 3) | _CLOSE)
    return out


def geometry_commands(geom: Any) -> tuple[int, list[int]]:
    """(MVT geometry type, command integers) of one geometry in tile coordinates."""
    kind = geom.geom_type
    cursor = [0, 0]
    if kind in ("Point", "MultiPoint"):
        pts = np.rint(shapely.get_coordinates(geom)).astype(np.int64)
        start = np.array(cursor, dtype=np.int64)
        deltas = np.diff(np.vstack([start, pts]), axis=0)
        return _POINT, [(len(pts) << 3) | _MOVE_TO, *_zigzag(deltas).ravel().tolist()]
    if kind not in ("Polygon", "MultiPolygon"):
        raise ValueError(f"cannot encode a {kind} (riskmap tiles hold points and polygons)")
    out: list[int] = []
    oriented = shapely.orient_polygons(geom, exterior_cw=False)  # positive area in y-down tile space
    for poly in getattr(oriented, "geoms", [oriented]):
        ext = _ring_commands(np.asarray(poly.exterior.coords), cursor, True)
        if not ext:
            continue
        out += ext
        for ring in poly.interiors:
            out += _ring_commands(np.asarray(ring.coords), cursor, True)
    return _POLYGON, out


def encode(layers: Sequence[Layer]) -> bytes:
    """MVT bytes of layers; features whose geometry is None are left out, None properties omitted."""
    tile = vector_tile_pb2.tile()
    for spec in layers:
        layer = tile.layers.add()
        layer.name = spec.name
        layer.version = 2
        layer.extent = spec.extent
        keys: dict[str, int] = {}
        values: dict[tuple[type, Any], int] = {}
        ids = spec.ids if spec.ids is not None else [None] * len(spec.geometries)
        geoms = np.asarray(spec.geometries, dtype=object)
        single = np.zeros(len(geoms), dtype=bool)
        if len(geoms):
            single = shapely.get_type_id(geoms) == 0
        point_cmds: dict[int, list[int]] = {}
        if single.any():  # one point per feature: its commands in one vectorised pass
            idx = np.nonzero(single)[0]
            zz = _zigzag(np.rint(shapely.get_coordinates(geoms[idx])).astype(np.int64)).tolist()
            point_cmds = {int(i): [(1 << 3) | _MOVE_TO, *c] for i, c in zip(idx, zz, strict=True)}
        for i, (geom, props, fid) in enumerate(zip(geoms, spec.properties, ids, strict=True)):
            if geom is None:
                continue
            if i in point_cmds:
                kind, commands = _POINT, point_cmds[i]
            else:
                kind, commands = geometry_commands(geom)
            if not commands:
                continue
            tags: list[int] = []
            for k, v in props.items():
                if v is None:
                    continue
                if k not in keys:
                    keys[k] = len(keys)
                    layer.keys.append(k)
                vkey = (type(v), v)
                if vkey not in values:
                    values[vkey] = len(values)
                    _add_value(layer.values.add(), v)
                tags += (keys[k], values[vkey])
            if fid is None:
                layer.features.add(type=kind, geometry=commands, tags=tags)
            else:
                layer.features.add(id=int(fid), type=kind, geometry=commands, tags=tags)
        if not layer.features:
            del tile.layers[-1]
    return tile.SerializeToString()


def _add_value(out: Any, v: Any) -> None:
    if isinstance(v, bool | np.bool_):
        out.bool_value = bool(v)
    elif isinstance(v, int | np.integer):
        v = int(v)
        if v < 0:
            out.sint_value = v
        else:
            out.uint_value = v
    elif isinstance(v, float | np.floating):
        out.double_value = float(v)
    elif isinstance(v, str):
        out.string_value = v
    else:
        raise ValueError(f"MVT property values are bool, int, float or str, not {type(v).__name__}")


# ---------------------------------------------------------------------------------------------------------
# decoding


@dataclass(frozen=True)
class Feature:
    geometry: Any  # shapely, tile coordinates (y down)
    properties: dict[str, Any]
    id: int | None


def decode(data: bytes) -> dict[str, list[Feature]]:
    """Layers of an MVT tile as features with shapely geometries in tile coordinates (y down)."""
    tile = vector_tile_pb2.tile()
    tile.ParseFromString(data)
    out: dict[str, list[Feature]] = {}
    for layer in tile.layers:
        values = [_value(v) for v in layer.values]
        feats = []
        for f in layer.features:
            tags = list(f.tags)
            props = {layer.keys[tags[i]]: values[tags[i + 1]] for i in range(0, len(tags), 2)}
            feats.append(
                Feature(_geometry(f.type, list(f.geometry)), props, f.id if f.HasField("id") else None)
            )
        out[layer.name] = feats
    return out


def _value(v: Any) -> Any:
    for name in ("string_value", "float_value", "double_value", "int_value", "uint_value", "sint_value"):
        if v.HasField(name):
            return getattr(v, name)
    if v.HasField("bool_value"):
        return v.bool_value
    return None


def _geometry(kind: int, cmds: list[int]) -> Any:
    rings: list[list[tuple[int, int]]] = []
    x = y = 0
    i = 0
    current: list[tuple[int, int]] = []
    while i < len(cmds):
        cmd, count = cmds[i] & 7, cmds[i] >> 3
        i += 1
        if cmd == _CLOSE:
            current.append(current[0])
            continue
        for _ in range(count):
            dx, dy = cmds[i], cmds[i + 1]
            i += 2
            x += (dx >> 1) ^ -(dx & 1)
            y += (dy >> 1) ^ -(dy & 1)
            if cmd == _MOVE_TO:
                current = [(x, y)]
                rings.append(current)
            else:
                current.append((x, y))
    if kind == _POINT:
        pts = [p for r in rings for p in r]
        return shapely.Point(pts[0]) if len(pts) == 1 else shapely.MultiPoint(pts)
    polys: list[tuple[list[tuple[int, int]], list[list[tuple[int, int]]]]] = []
    for ring in rings:
        if len(ring) < 4:
            continue
        if shapely.LinearRing(ring).is_ccw:  # positive area in y-down space: an exterior ring
            polys.append((ring, []))
        elif polys:
            polys[-1][1].append(ring)
    shapes = [shapely.Polygon(e, h) for e, h in polys]
    return shapes[0] if len(shapes) == 1 else shapely.MultiPolygon(shapes)
