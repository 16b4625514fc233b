"""Snapshot metadata: what is being served."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from api.deps import Holder, View
from api.security import VIEW_AGGREGATE, require

router = APIRouter(
    prefix="/v1/snapshots", tags=["snapshots"], dependencies=[Depends(require(VIEW_AGGREGATE))]
)


@router.get("/current", summary="The snapshot currently served")
async def current(view: View, holder: Holder) -> dict[str, Any]:
    i = view.info
    return {
        "snapshot_id": i.snapshot_id,
        "as_of": i.as_of.isoformat(),
        "created_at": i.created_at.isoformat() if i.created_at else None,
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
