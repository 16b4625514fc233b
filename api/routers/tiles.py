"""Vector (MVT) and raster (PNG) tiles, TileJSON 3.0, and the OGC API – Tiles style URLs.

Two URL styles, one handler (`api.tiles.service.serve_tile`):
`/tiles/{layer}/{z}/{x}/{y}.mvt` (`.pbf`, `.png`, `@2x.png`) with TileJSON at `/tiles/{layer}.json`, and
`/collections/{layer}/tiles/WebMercatorQuad/{z}/{x}/{y}` with TileJSON at
`/collections/{layer}/tiles/WebMercatorQuad/tilejson.json` (as tipg names them).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response

from api.deps import AsOfQuery, direct_authentication, principal_of
from api.security import CurrentPrincipal, Principal
from api.snapshot import SnapshotView
from api.tiles.layers import LAYERS
from api.tiles.service import MVT_TYPE, layer_spec, parse_tile_name, serve_tile, view_for
from api.tiles.style import base_url, style, tilejson

router = APIRouter(tags=["tiles"])

TILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the tile: MVT (gzip-compressed when accepted) or PNG",
        "content": {
            MVT_TYPE: {"schema": {"type": "string", "format": "binary"}},
            "image/png": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    204: {"description": "no feature meets this tile"},
    304: {"description": "not modified (If-None-Match)"},
    400: {"description": "impossible tile (z outside 0–22, x or y outside 0 … 2^z − 1) or unknown format"},
    401: {"description": "the layer needs credentials (households)"},
    403: {"description": "the role may not see the layer, or the tile lies outside the caller's area"},
    404: {"description": "unknown layer, or no snapshot on or before as_of"},
}
TILEJSON_EXAMPLE = {
    "tilejson": "3.0.0",
    "name": "riskmap wards",
    "tiles": ["http://127.0.0.1:8000/tiles/wards/{z}/{x}/{y}.mvt"],
    "minzoom": 0,
    "maxzoom": 16,
    "bounds": [106.35, 10.37, 107.03, 11.16],
    "center": [106.69, 10.76, 10],
    "vector_layers": [
        {"id": "wards", "fields": {"unit_id": "String", "level": "Number"}, "minzoom": 0, "maxzoom": 16}
    ],
}


def _json(doc: dict[str, Any], view: SnapshotView, public: bool = True) -> Response:
    return Response(
        orjson.dumps(doc),
        media_type="application/json",
        headers={"ETag": view.etag, "Cache-Control": f"{'public' if public else 'private'}, max-age=60"},
    )


@router.get(
    "/tiles/{layer}.json",
    summary="TileJSON 3.0 of a layer",
    responses={
        200: {"content": {"application/json": {"example": TILEJSON_EXAMPLE}}},
        404: {"description": "unknown layer"},
    },
)
async def layer_tilejson(
    request: Request,
    layer: str,
    format: Annotated[Literal["mvt", "png"], Query(description="vector tiles or the raster overlay")] = "mvt",
) -> Response:
    spec = layer_spec(layer)
    view = await view_for(request, None)
    return _json(tilejson(spec, base_url(request, request.app.state.settings), view, format), view)


XYZ_PARAMETERS = [
    {
        "name": "layer",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "example": "wards",
        "description": "wards, groups, h3, hotspots or households",
    },
    {"name": "z", "in": "path", "required": True, "schema": {"type": "integer"}, "example": 14},
    {"name": "x", "in": "path", "required": True, "schema": {"type": "integer"}, "example": 13048},
    {
        "name": "tile",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "example": "7698.mvt",
        "description": "{y}.mvt, {y}.pbf, {y}.png or {y}@2x.png",
    },
    {
        "name": "as_of",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "format": "date"},
        "example": "2021-10-24",
        "description": "draw the last snapshot on or before this day",
    },
]
XYZ_ROUTE: dict[str, Any] = dict(
    summary="A tile of a layer: {y}.mvt, {y}.pbf, {y}.png (256 px) or {y}@2x.png (512 px)",
    description="Wards and groups at every zoom; H3 cells at resolution 8 up to zoom 10, 9 at 11–12, 10 from "
    "13; hotspots; household points from zoom 15 for roles with household access, within their area. Every "
    "feature of the tile is in it (never truncated).",
    responses=TILE_RESPONSES,
    response_class=Response,
    openapi_extra={"parameters": XYZ_PARAMETERS},
)


def _int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise HTTPException(422, detail=f"{name} must be a whole number, not {text[:20]!r}") from None


def _as_of(request: Request) -> dt.date | None:
    text = request.query_params.get("as_of") if request.scope.get("query_string") else None
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise HTTPException(
            422, detail=f"as_of must be an ISO date (YYYY-MM-DD), not {text[:40]!r}"
        ) from None


async def _xyz(request: Request, principal: Principal) -> Response:
    p = request.path_params
    y, fmt, scale = parse_tile_name(p["tile"])
    z, x = _int(p["z"], "z"), _int(p["x"], "x")
    return await serve_tile(request, principal, p["layer"], z, x, y, fmt, 256 * scale, _as_of(request))


async def xyz_tile(request: Request) -> Response:
    # Hot path (cached tiles cost a dictionary lookup): path and query read by hand, the caller resolved
    # without FastAPI's dependency solving (see api.deps.principal_of); `xyz_tile_checked` otherwise.
    return await _xyz(request, await principal_of(request))


async def xyz_tile_checked(request: Request, principal: CurrentPrincipal) -> Response:
    return await _xyz(request, principal)


router.add_api_route(
    "/tiles/{layer}/{z}/{x}/{tile}",
    xyz_tile if direct_authentication() else xyz_tile_checked,
    methods=["GET"],
    **XYZ_ROUTE,
)


COLLECTIONS_EXAMPLE = {
    "collections": [
        {
            "id": "wards",
            "title": "Cấp độ dịch theo phường, xã / Epidemic level by ward",
            "links": [
                {
                    "rel": "item",
                    "href": "http://127.0.0.1:8000/collections/wards/tiles/WebMercatorQuad/{z}/{x}/{y}",
                }
            ],
        }
    ]
}


@router.get(
    "/collections",
    summary="The tile layers as OGC API collections",
    responses={200: {"content": {"application/json": {"example": COLLECTIONS_EXAMPLE}}}},
)
async def collections(request: Request) -> dict[str, Any]:
    base = base_url(request, request.app.state.settings)
    return {
        "collections": [
            {
                "id": spec.id,
                "title": f"{spec.title_vi} / {spec.title_en}",
                "description": spec.description,
                "links": [
                    {"rel": "self", "href": f"{base}/collections/{spec.id}"},
                    {
                        "rel": "item",
                        "type": MVT_TYPE,
                        "templated": True,
                        "href": f"{base}/collections/{spec.id}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}",
                    },
                    {
                        "rel": "describedby",
                        "type": "application/json",
                        "href": f"{base}/collections/{spec.id}/tiles/WebMercatorQuad/tilejson.json",
                    },
                ],
            }
            for spec in LAYERS.values()
        ]
    }


@router.get(
    "/collections/{layer}/tiles/WebMercatorQuad/tilejson.json",
    summary="TileJSON 3.0 of a collection (OGC-style URL)",
    responses={
        200: {"content": {"application/json": {"example": TILEJSON_EXAMPLE}}},
        404: {"description": "unknown layer"},
    },
)
async def ogc_tilejson(request: Request, layer: str) -> Response:
    spec = layer_spec(layer)
    view = await view_for(request, None)
    doc = tilejson(spec, base_url(request, request.app.state.settings), view)
    doc["tiles"] = [
        f"{base_url(request, request.app.state.settings)}/collections/{spec.id}/tiles/WebMercatorQuad/{{z}}/{{x}}/{{y}}"
    ]
    return _json(doc, view)


@router.get(
    "/collections/{layer}/tiles/WebMercatorQuad/{z}/{x}/{y}",
    summary="A tile of a collection (OGC API – Tiles style URL; MVT, or PNG with f=png)",
    responses=TILE_RESPONSES,
    response_class=Response,
)
async def ogc_tile(
    request: Request,
    principal: CurrentPrincipal,
    layer: Annotated[str, Path(examples=["h3"])],
    z: Annotated[int, Path(examples=[12])],
    x: Annotated[int, Path(examples=[3262])],
    y: Annotated[int, Path(examples=[1924])],
    f: Annotated[Literal["mvt", "png"], Query(description="format")] = "mvt",
    size: Annotated[Literal[256, 512], Query(description="PNG size in pixels")] = 256,
    as_of: AsOfQuery = None,
) -> Response:
    return await serve_tile(request, principal, layer, z, x, y, f, size, as_of)


@router.get(
    "/styles/riskmap.json",
    summary="MapLibre style of riskmap's layers over the configured base map",
    description="Sources point at this server's TileJSON; the base map is RISKMAP_API_BASEMAP_URL (e.g. Vmap's "
    "XYZ template) or, when unset, a neutral background.",
    responses={
        200: {"content": {"application/json": {"example": {"version": 8, "sources": {}, "layers": []}}}}
    },
)
async def maplibre_style(request: Request, principal: CurrentPrincipal) -> Response:
    view = await view_for(request, None)
    settings = request.app.state.settings
    return _json(
        style(base_url(request, settings), settings, view, principal),
        view,
        public=principal.subject == "public",
    )


__all__ = ["dt", "router"]
