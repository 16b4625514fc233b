"""One unit: its current (or past) level, and its level through time."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.answers import _json
from api.deps import AggregateViewer, AreaType, ViewAsOf
from api.history import HistoryCache, unit_series
from api.privacy import sees_small_areas, suppressed_answer
from api.routers.risk import ANSWER_RESPONSE

router = APIRouter(prefix="/v1/units", tags=["units"])

UnitId = Annotated[
    str, Path(max_length=200, description="unit id: `hcmc-2025:26740`, a group id, an H3 cell (hex)")
]

HISTORY_EXAMPLE = {
    "unit": {"type": "ward", "id": "hcmc-2025:26740", "name": "Phường Sài Gòn"},
    "profile": "moh-4800",
    "count": 2,
    "series": [
        {
            "as_of": "2021-10-17",
            "snapshot_id": 2,
            "level": 3,
            "colour": "#f07d00",
            "suppressed": False,
            "pending": None,
            "metrics": {"community_cases_per_100k_7d": 88.1},
        },
        {
            "as_of": "2021-10-24",
            "snapshot_id": 3,
            "level": 2,
            "colour": "#f2c200",
            "suppressed": False,
            "pending": None,
            "metrics": {"community_cases_per_100k_7d": 72.6},
        },
    ],
}


def _history_cache(request: Request) -> HistoryCache:
    cache = getattr(request.app.state, "history_cache", None)
    if cache is None:
        cache = request.app.state.history_cache = HistoryCache()
    return cache


@router.get(
    "/{unit_type}/{unit_id}",
    summary="Level of one unit (city, ward, group, H3 cell) by id",
    responses={200: ANSWER_RESPONSE, 404: {"description": "no such unit in the snapshot"}},
)
async def unit_level(
    view: ViewAsOf, principal: AggregateViewer, unit_type: AreaType, unit_id: UnitId
) -> Response:
    body = view.answer_bytes(unit_type, unit_id, sees_small_areas(principal))
    if body is None:
        raise HTTPException(404, detail=f"no {unit_type} {unit_id!r} in snapshot {view.snapshot_id}")
    return Response(body, media_type="application/json", headers={"ETag": view.etag, "Vary": "Authorization"})


@router.get(
    "/{unit_type}/{unit_id}/history",
    summary="A unit's level through time (one point per scored day)",
    description="Every snapshot of the served profile, one per as-of day, oldest first: level, colour, "
    "pending raise and metrics. Points where the unit was not scored have level null.",
    responses={
        200: {"content": {"application/json": {"example": HISTORY_EXAMPLE}}},
        404: {"description": "the unit is not in the current snapshot"},
    },
)
async def unit_history(
    request: Request,
    view: ViewAsOf,
    principal: AggregateViewer,
    unit_type: AreaType,
    unit_id: UnitId,
    since: Annotated[dt.date | None, Query(alias="from", description="first day (ISO)")] = None,
    until: Annotated[dt.date | None, Query(alias="to", description="last day (ISO)")] = None,
) -> Response:
    if not view.has(unit_type, unit_id):
        raise HTTPException(404, detail=f"no {unit_type} {unit_id!r} in snapshot {view.snapshot_id}")
    holder = request.app.state.snapshots
    series = await run_in_threadpool(unit_series, holder, _history_cache(request), unit_type, unit_id)
    hidden = not sees_small_areas(principal) and view.small(unit_type, unit_id)
    points: list[dict[str, Any]] = []
    for info, row in series:
        day = info.as_of.date()
        if (since and day < since) or (until and day > until) or info.snapshot_id > view.snapshot_id:
            continue
        level = None if row is None or row["level"] is None else int(row["level"])
        pending = row.get("pending_level") if row else None
        point = {
            "as_of": day.isoformat(),
            "snapshot_id": info.snapshot_id,
            "level": level,
            "colour": view.colour(level) if level is not None else view.colour(0),
            "suppressed": False,
            "pending": None if pending is None or pending != pending else int(pending),
            "metrics": _json(row["metrics"], {}) if row else {},
        }
        if hidden:
            point.update(
                suppressed_answer({}, view.k) | {"as_of": point["as_of"], "snapshot_id": info.snapshot_id}
            )
            point = {
                k: point[k]
                for k in ("as_of", "snapshot_id", "level", "colour", "suppressed", "pending", "metrics")
            }
        points.append(point)
    body = {
        "unit": {"type": unit_type, "id": unit_id, "name": (view.row(unit_type, unit_id) or {}).get("name")},
        "profile": view.info.profile,
        "count": len(points),
        "series": points,
    }
    return Response(
        orjson.dumps(body, default=str), media_type="application/json", headers={"ETag": view.etag}
    )
