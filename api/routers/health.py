"""Liveness and readiness."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from api.deps import AggregateViewer, Holder, check_permission, direct_authentication, principal_of
from api.hotpath import hot
from api.security import VIEW_AGGREGATE, declares, require

router = APIRouter(tags=["health"])

OK = b'{"status":"ok"}'
HEALTHZ_ROUTE: dict[str, object] = dict(
    summary="Liveness: the process answers",
    responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
    response_class=Response,
)


@hot
@declares(VIEW_AGGREGATE)
async def healthz(request: Request) -> Response:
    # bare bytes behind the same caller check, limits and middlewares as the risk endpoint: also the
    # baseline the serving benchmark compares it with (both take the hot path, api.hotpath)
    check_permission(await principal_of(request), VIEW_AGGREGATE)
    return Response(OK, media_type="application/json")


@declares(VIEW_AGGREGATE)
async def healthz_checked(principal: AggregateViewer) -> Response:
    return Response(OK, media_type="application/json")


router.add_api_route(
    "/healthz",
    healthz if direct_authentication() else healthz_checked,
    methods=["GET"],
    **HEALTHZ_ROUTE,  # type: ignore[arg-type]
)


@router.get(
    "/readyz",
    dependencies=[Depends(require(VIEW_AGGREGATE))],
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
