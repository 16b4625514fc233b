"""The risk-level endpoint: which level applies at a place, from which unit, why."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Response

from api.deps import View
from api.security import VIEW_RISK, require

router = APIRouter(prefix="/v1", tags=["risk"], dependencies=[Depends(require(VIEW_RISK))])

EXAMPLE = {
    "level": 2,
    "known": True,
    "label": {"vi": "Cấp 2 – Nguy cơ trung bình (vàng)", "en": "Level 2 – medium (yellow)"},
    "colour": "#f2c200",
    "unit": {
        "type": "ward",
        "id": "hcmc-2025:26740",
        "code": "26740",
        "name": "Phường Sài Gòn",
        "parent_id": "hcmc-2025:79",
    },
    "profile": {"id": "moh-4800", "version": "2021-10-12.1", "title": "MoH Decision 4800/QĐ-BYT"},
    "as_of": "2021-10-24T23:59:59+00:00",
    "snapshot_id": 3,
    "reasons": {
        "vi": ["C1: 72.6 ca mắc mới trong cộng đồng/100.000 dân/7 ngày (mức 3)"],
        "en": ["C1: 72.6 new community cases per 100,000 in 7 days (band 3)"],
    },
    "reason_codes": [
        {"step": "C1", "metric": "community_cases_per_100k_7d", "value": 72.6, "effect": 3, "applied": True}
    ],
    "metrics": {"population": 9145000, "community_cases_per_100k_7d": 72.6},
    "pending": None,
    "query": {"lat": 10.776, "lon": 106.7},
}


@router.get(
    "/risk",
    summary="Risk level at a point (lat/lon)",
    description="The level of the ward that contains the point, with its label (Vietnamese and English), "
    "colour, profile, as-of time, snapshot id, reasons and metrics. Level 0 means unknown (not enough data).",
    responses={
        200: {"content": {"application/json": {"example": EXAMPLE}}},
        404: {"description": "the point is outside every ward of the covered area"},
    },
)
async def risk_at(
    view: View,
    lat: Annotated[float, Query(ge=-90, le=90, description="latitude (WGS84)", examples=[10.776])],
    lon: Annotated[float, Query(ge=-180, le=180, description="longitude (WGS84)", examples=[106.70])],
) -> Response:
    ward = view.ward_at(lon, lat)
    if ward is None:
        raise HTTPException(
            404,
            detail=f"point (lat {lat}, lon {lon}) is outside the covered area "
            f"({len(view.ward_ids)} wards of {view.gazetteer.city['full_name']})",
        )
    answer = view.answer("ward", ward)
    if answer is None:
        raise HTTPException(404, detail=f"no level for ward {ward} in snapshot {view.info.snapshot_id}")
    body = orjson.dumps({**answer, "query": {"lat": lat, "lon": lon}})
    return Response(body, media_type="application/json", headers={"ETag": view.etag})


@router.get(
    "/units/{unit_type}/{unit_id}",
    summary="Current level of one unit (city, ward) by id",
    responses={
        200: {"content": {"application/json": {"example": EXAMPLE}}},
        404: {"description": "no such unit"},
    },
)
async def unit_level(view: View, unit_type: str, unit_id: str) -> Response:
    answer = view.answer(unit_type, unit_id)
    if answer is None:
        raise HTTPException(404, detail=f"no {unit_type} {unit_id!r} in snapshot {view.info.snapshot_id}")
    return Response(orjson.dumps(answer), media_type="application/json", headers={"ETag": view.etag})
