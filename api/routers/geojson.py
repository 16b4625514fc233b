"""GeoJSON (RFC 7946) of units with their current levels."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from api.deps import View
from api.security import VIEW_AGGREGATE, require

router = APIRouter(prefix="/v1/geojson", tags=["geojson"], dependencies=[Depends(require(VIEW_AGGREGATE))])


@router.get(
    "/wards",
    summary="Wards with their current level (GeoJSON FeatureCollection)",
    responses={200: {"content": {"application/geo+json": {}}}, 304: {"description": "not modified"}},
)
async def wards(view: View, request: Request) -> Response:
    headers = {"ETag": view.etag, "Cache-Control": "public, max-age=60"}
    if request.headers.get("if-none-match") == view.etag:
        return Response(status_code=304, headers=headers)
    return Response(view.ward_geojson, media_type="application/geo+json", headers=headers)
