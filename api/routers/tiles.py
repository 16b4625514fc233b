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
from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api.deps import AsOfQuery
from api.security import VIEW_AGGREGATE, CurrentPrincipal, declares, require
from api.snapshot import SnapshotView
from api.tiles.layers import LAYERS
from api.tiles.service import MVT_TYPE, layer_spec, parse_tile_name, serve_tile, view_for
from api.tiles.style import base_url, style, tilejson

router = APIRouter(tags=["tiles"])
# Layers that need more than aggregate access, for the route walker (service.check_access enforces it).
LAYER_PERMISSIONS = {
    spec.id: spec.permission for spec in LAYERS.values() if spec.permission != VIEW_AGGREGATE
}
AGGREGATE = [Depends(require(VIEW_AGGREGATE))]

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
    dependencies=AGGREGATE,
)
async def layer_tilejson(
    request: Request,
    layer: str,
    format: Annotated[Literal["mvt", "png"], Query(description="vector tiles or the raster overlay")] = "mvt",
    as_of: AsOfQuery = None,
) -> Response:
    spec = layer_spec(layer)
    view = await view_for(request, as_of)
    day = as_of.isoformat() if as_of else None
    return _json(tilejson(spec, base_url(request, request.app.state.settings), view, format, day), view)


@router.get(
    "/tiles/{layer}/{z}/{x}/{tile}",
    summary="A tile of a layer: {y}.mvt, {y}.pbf, {y}.png (256 px) or {y}@2x.png (512 px)",
    description="Wards and groups at every zoom; H3 cells at resolution 8 up to zoom 10, 9 at 11–12, 10 from "
    "13; hotspots; household points from zoom 15 for roles with household access, within their area. Every "
    "feature of the tile is in it (never truncated).",
    responses=TILE_RESPONSES,
    response_class=Response,
)
@declares(VIEW_AGGREGATE, by_layer=LAYER_PERMISSIONS)
async def xyz_tile(
    request: Request,
    principal: CurrentPrincipal,
    layer: Annotated[str, Path(examples=["wards"])],
    z: Annotated[int, Path(examples=[14])],
    x: Annotated[int, Path(examples=[13048])],
    tile: Annotated[str, Path(examples=["7698.mvt", "7698@2x.png"])],
    as_of: AsOfQuery = None,
) -> Response:
    y, fmt, scale = parse_tile_name(tile)
    return await serve_tile(request, principal, layer, z, x, y, fmt, 256 * scale, as_of)


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
    dependencies=AGGREGATE,
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
    dependencies=AGGREGATE,
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
@declares(VIEW_AGGREGATE, by_layer=LAYER_PERMISSIONS)
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
    dependencies=AGGREGATE,
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
