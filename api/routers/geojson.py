"""GeoJSON (RFC 7946) of units with their levels: wards, neighbourhood groups, H3 cells, hotspots.

Filters: `bbox` (west,south,east,north), `level` (any of 0–4; 0 unknown), `ward` (units of one ward),
`as_of` (a past snapshot). Pages: `limit` features in unit-id order and a `next` link carrying the last id
(keyset pagination: no OFFSET, no COUNT over the whole collection). Every ward at once, unfiltered, is
served from bytes prepared once per snapshot with an ETag (`304` on `If-None-Match`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import numpy as np
import orjson
import shapely
from fastapi import APIRouter, HTTPException, Query, Request, Response

from api.deps import AggregateViewer, AsOfQuery, view_as_of
from api.mapdata import UnitGeometry
from api.privacy import sees_small_areas, small_mask
from api.snapshot import SnapshotView

router = APIRouter(prefix="/v1/geojson", tags=["geojson"])

GEOJSON = "application/geo+json"
MAX_LIMIT = 10_000
FEATURE_EXAMPLE = {
    "type": "Feature",
    "id": "hcmc-2025:26740",
    "properties": {
        "unit_id": "hcmc-2025:26740",
        "unit_type": "ward",
        "code": "26740",
        "name": "Phường Sài Gòn",
        "parent_id": "hcmc-2025:79",
        "ward_id": "hcmc-2025:26740",
        "level": 2,
        "known": True,
        "suppressed": False,
        "colour": "#f2c200",
        "label_vi": "Cấp 2 – Nguy cơ trung bình (vàng)",
        "label_en": "Level 2 – medium (yellow)",
        "pending_level": None,
        "hotspot": False,
        "households": 12034,
        "population": 47000,
    },
    "geometry": {
        "type": "MultiPolygon",
        "coordinates": [[[[106.69, 10.77], [106.71, 10.77], [106.70, 10.78], [106.69, 10.77]]]],
    },
}
COLLECTION_RESPONSE = {
    200: {
        "description": "a FeatureCollection (RFC 7946) with `numberReturned`, `links` and the snapshot",
        "content": {
            GEOJSON: {
                "example": {
                    "type": "FeatureCollection",
                    "snapshot_id": 3,
                    "as_of": "2021-10-24T23:59:59+00:00",
                    "numberReturned": 1,
                    "links": [{"rel": "next", "href": "/v1/geojson/wards?limit=1&after=hcmc-2025%3A26740"}],
                    "features": [FEATURE_EXAMPLE],
                }
            }
        },
    },
    304: {"description": "not modified (If-None-Match)"},
    400: {"description": "a malformed bbox or level"},
    404: {"description": "no snapshot on or before as_of"},
}

Collection = Literal["wards", "groups", "cells", "hotspots"]
Bbox = Annotated[
    str | None,
    Query(description="west,south,east,north in degrees (WGS84)", examples=["106.68,10.76,106.72,10.80"]),
]
Levels = Annotated[
    str | None, Query(description="comma-separated levels to keep (0 = unknown)", examples=["3,4"])
]
Res = Annotated[int, Query(ge=8, le=10, description="H3 resolution (cells and hotspots)")]
Limit = Annotated[
    int | None,
    Query(ge=1, le=MAX_LIMIT, description="features per page (default: all wards; 1000 otherwise)"),
]
After = Annotated[str | None, Query(max_length=200, description="the last unit id of the previous page")]
Ward = Annotated[str | None, Query(max_length=100, description="only units of this ward (id)")]


def _parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None:
        return None
    try:
        w, s, e, n = (float(v) for v in text.split(","))
    except ValueError:
        raise HTTPException(400, detail=f"bbox {text!r}: give west,south,east,north in degrees") from None
    if not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90):
        raise HTTPException(
            400, detail=f"bbox {text!r}: need -180 ≤ west ≤ east ≤ 180 and -90 ≤ south ≤ north ≤ 90"
        )
    return w, s, e, n


def _parse_levels(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        levels = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise HTTPException(400, detail=f"level {text!r}: give levels as whole numbers, e.g. 3,4") from None
    if not levels or any(not 0 <= v <= 9 for v in levels):
        raise HTTPException(400, detail=f"level {text!r}: levels run from 0 (unknown) to 4")
    return levels


def _unit_type(collection: str, res: int) -> str:
    return {"wards": "ward", "groups": "group"}.get(collection, f"h3_{res}")


def _features(
    view: SnapshotView, units: UnitGeometry, positions: np.ndarray, sees_small: bool
) -> list[bytes]:
    """Serialised features (geometry text from GEOS in one vectorised call)."""
    unit_type = units.unit_type
    tl = view.tile_levels[unit_type]
    geoms = shapely.to_geojson(units.simplified()[positions])
    small = (
        np.zeros(len(positions), bool)
        if sees_small
        else small_mask(unit_type, units.households[positions], view.k)
    )
    is_h3 = unit_type.startswith("h3_")
    out = []
    for i, p in enumerate(positions):
        uid = str(units.ids[p])
        hidden = bool(small[i])
        level = int(tl.level[p])
        lvl = None if hidden else max(level, 0)  # no row: the explicit unknown (0), as the risk answer
        pending = int(tl.pending[p])
        props: dict[str, Any] = {
            "unit_id": uid,
            "unit_type": unit_type,
            "name": units.names[p] if isinstance(units.names[p], str) else None,
            "parent_id": units.parent_ids[p] if isinstance(units.parent_ids[p], str) else None,
            "ward_id": units.ward_ids[p] if isinstance(units.ward_ids[p], str) else None,
            "level": lvl,
            "known": lvl is not None and lvl != 0,
            "suppressed": hidden,
            "colour": "#bdbdbd" if hidden else view.colour(lvl if lvl is not None else 0),
            "label_vi": view.label(lvl, "vi")
            if lvl is not None
            else ("Không hiển thị" if hidden else view.label(0, "vi")),
            "label_en": view.label(lvl, "en")
            if lvl is not None
            else ("Suppressed" if hidden else view.label(0, "en")),
            "pending_level": None if hidden or pending < 0 else pending,
            "hotspot": bool(is_h3 and not hidden and tl.hotspot[p]),
            "households": None if hidden else int(units.households[p]),
        }
        if unit_type == "ward":
            props["code"] = (
                str(view.gazetteer.units.at[uid, "code"]) if uid in view.gazetteer.units.index else None
            )
            row = view.row("ward", uid)
            props["population"] = (
                int(row["population"])
                if row
                and row.get("population") == row.get("population")
                and row.get("population") is not None
                else None
            )
        out.append(
            b'{"type":"Feature","id":'
            + orjson.dumps(uid)
            + b',"properties":'
            + orjson.dumps(props)
            + b',"geometry":'
            + geoms[i].encode()
            + b"}"
        )
    return out


def _collection(view: SnapshotView, features: list[bytes], extra: dict[str, Any]) -> bytes:
    head = orjson.dumps(
        {
            "type": "FeatureCollection",
            "snapshot_id": view.snapshot_id,
            "as_of": view.info.as_of.isoformat(),
            **extra,
        }
    )
    return head[:-1] + b',"features":[' + b",".join(features) + b"]}"


def _select(
    view: SnapshotView,
    units: UnitGeometry,
    bbox: tuple[float, float, float, float] | None,
    levels: list[int] | None,
    ward: str | None,
    hotspots: bool,
    sees_small: bool,
) -> np.ndarray:
    mask = np.ones(len(units), dtype=bool)
    if bbox is not None:
        keep = np.zeros(len(units), dtype=bool)
        keep[units.in_bbox(bbox)] = True
        mask &= keep
    small = (
        np.zeros(len(units), bool) if sees_small else small_mask(units.unit_type, units.households, view.k)
    )
    tl = view.tile_levels[units.unit_type]
    if levels is not None:
        mask &= np.isin(tl.level, levels) & ~small
    if ward is not None:
        mask &= units.ward_ids == ward
    if hotspots:
        mask &= tl.hotspot & ~small
    return np.nonzero(mask)[0]


@router.get(
    "/{collection}",
    summary="Units with their levels as GeoJSON: wards, groups, H3 cells, hotspots",
    responses=COLLECTION_RESPONSE,
    response_class=Response,
)
async def collection(
    request: Request,
    principal: AggregateViewer,
    collection: Collection,
    bbox: Bbox = None,
    level: Levels = None,
    ward: Ward = None,
    res: Res = 9,
    limit: Limit = None,
    after: After = None,
    as_of: AsOfQuery = None,
) -> Response:
    view = await view_as_of(request, as_of)
    sees_small = sees_small_areas(principal)
    box, levels = _parse_bbox(bbox), _parse_levels(level)
    unit_type = _unit_type(collection, res)
    units = view.map.units[unit_type]
    variant = "a" if sees_small else "p"
    etag = f'W/"{view.etag.strip(chr(34))}-{variant}"'
    headers = {
        "ETag": etag,
        "Cache-Control": f"{'private' if sees_small else 'public'}, max-age=60",
        "Vary": "Authorization, Accept-Encoding",
    }
    if request.headers.get("if-none-match") in (etag, etag.removeprefix("W/")):
        return Response(status_code=304, headers=headers)
    plain = (
        box is None
        and levels is None
        and ward is None
        and after is None
        and collection == "wards"
        and limit is None
    )
    if plain:  # the whole ward layer: prepared once per snapshot
        body = view.cached(
            f"geojson:wards:{variant}",
            lambda: _collection(
                view,
                _features(view, units, np.arange(len(units)), sees_small),
                {"numberReturned": len(units), "links": []},
            ),
        )
        return Response(body, media_type=GEOJSON, headers=headers)
    positions = _select(view, units, box, levels, ward, collection == "hotspots", sees_small)
    if after is not None:
        start = int(np.searchsorted(units.ids, after, side="right"))
        positions = positions[positions >= start]
    page_size = limit or (len(units) if collection == "wards" else 1000)
    page = positions[:page_size]
    links = []
    if len(positions) > page_size:
        params = {k: v for k, v in request.query_params.items() if k != "after"}
        params["after"] = str(units.ids[page[-1]])
        links.append({"rel": "next", "type": GEOJSON, "href": f"{request.url.path}?{urlencode(params)}"})
    body = _collection(
        view, _features(view, units, page, sees_small), {"numberReturned": len(page), "links": links}
    )
    return Response(body, media_type=GEOJSON, headers=headers)
