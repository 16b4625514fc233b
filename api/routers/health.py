"""Liveness and readiness."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse

from api.deps import Holder
from api.security import VIEW_AGGREGATE, require

router = APIRouter(tags=["health"], dependencies=[Depends(require(VIEW_AGGREGATE))])

OK = b'{"status":"ok"}'


@router.get(
    "/healthz",
    summary="Liveness: the process answers",
    responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
    response_class=Response,
)
async def healthz() -> Response:
    # bare bytes: also the baseline the serving benchmark compares the risk endpoint with
    return Response(OK, media_type="application/json")


@router.get(
    "/readyz",
    summary="Readiness: a snapshot is loaded and being served",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "status": "ready",
                        "snapshot_id": 3,
                        "as_of": "2021-10-24T23:59:59+00:00",
                        "stale": False,
                        "snapshot_age_s": 12.5,
                    }
                }
            }
        },
        503: {"description": "no snapshot loaded yet"},
    },
)
async def readyz(holder: Holder) -> JSONResponse:
    view = holder.view
    if view is None:
        return JSONResponse({"status": "not ready", "detail": "no snapshot loaded"}, status_code=503)
    return JSONResponse(
        {
            "status": "ready",
            "snapshot_id": view.info.snapshot_id,
            "as_of": view.info.as_of.isoformat(),
            "stale": holder.stale,
            "snapshot_age_s": round(time.time() - view.loaded_at, 1),
        }
    )
