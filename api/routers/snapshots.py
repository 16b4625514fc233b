"""Snapshot metadata: what is being served, and which days can be asked for."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from api.deps import Holder, View
from api.security import VIEW_AGGREGATE, require
from risk.store import SnapshotInfo

router = APIRouter(
    prefix="/v1/snapshots", tags=["snapshots"], dependencies=[Depends(require(VIEW_AGGREGATE))]
)

CURRENT_EXAMPLE = {
    "snapshot_id": 3,
    "as_of": "2021-10-24T23:59:59+00:00",
    "created_at": "2021-10-25T01:02:03+00:00",
    "parent_id": 2,
    "delta": False,
    "chain": [3],
    "profile": {
        "id": "moh-4800",
        "version": "2021-10-12.1",
        "title": "MoH Decision 4800/QĐ-BYT",
        "source": "…",
    },
    "input_watermark": 42,
    "stale": False,
    "stats": {"units": {"ward": 168, "city": 1}},
}


def _info(i: SnapshotInfo) -> dict[str, Any]:
    return {
        "snapshot_id": i.snapshot_id,
        "as_of": i.as_of.isoformat(),
        "created_at": i.created_at.isoformat() if i.created_at else None,
        "parent_id": i.parent_id,
        "delta": bool(i.stats.get("delta")),
        "profile": i.profile,
        "profile_version": i.profile_version,
    }


@router.get(
    "/current",
    summary="The snapshot currently served",
    responses={200: {"content": {"application/json": {"example": CURRENT_EXAMPLE}}}},
)
async def current(view: View, holder: Holder) -> dict[str, Any]:
    i = view.info
    return {
        "snapshot_id": i.snapshot_id,
        "as_of": i.as_of.isoformat(),
        "created_at": i.created_at.isoformat() if i.created_at else None,
        "parent_id": i.parent_id,
        "delta": bool(i.stats.get("delta")),
        "chain": list(view.chain),
        "profile": {
            "id": i.profile,
            "version": i.profile_version,
            "title": view.profile.title,
            "source": view.profile.source,
        },
        "input_watermark": i.input_watermark,
        "stale": holder.stale,
        "stats": dict(i.stats),
    }


@router.get(
    "",
    summary="The scored days: one snapshot per as-of day (what `as_of` parameters can ask for)",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "count": 1,
                        "snapshots": [
                            {
                                "snapshot_id": 3,
                                "as_of": "2021-10-24T23:59:59+00:00",
                                "created_at": None,
                                "parent_id": 2,
                                "delta": False,
                                "profile": "moh-4800",
                                "profile_version": "2021-10-12.1",
                            }
                        ],
                    }
                }
            }
        }
    },
)
async def history(view: View, holder: Holder) -> dict[str, Any]:
    snaps = await run_in_threadpool(holder.history)
    out = [_info(s) for s in snaps if s.snapshot_id <= view.info.snapshot_id]
    return {"count": len(out), "snapshots": out}
