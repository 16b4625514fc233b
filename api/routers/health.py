"""Liveness and readiness."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from api.deps import Holder
from api.security import VIEW_AGGREGATE, require

router = APIRouter(tags=["health"], dependencies=[Depends(require(VIEW_AGGREGATE))])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: a snapshot is loaded and being served",
    responses={503: {"description": "no snapshot loaded yet"}},
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
