"""Request dependencies: the current snapshot view, the store, settings (typed aliases for routes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from api.settings import ApiSettings
from api.snapshot import SnapshotHolder, SnapshotView
from risk.store import Store


def get_holder(request: Request) -> SnapshotHolder:
    return request.app.state.snapshots


def get_view(request: Request) -> SnapshotView:
    """The snapshot this request is answered from (taken once, so the answer is consistent)."""
    view = request.app.state.snapshots.view
    if view is None:
        raise HTTPException(
            status_code=503, detail="no risk snapshot has been published yet; run `riskmap score`"
        )
    return view


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


View = Annotated[SnapshotView, Depends(get_view)]
Holder = Annotated[SnapshotHolder, Depends(get_holder)]
StoreDep = Annotated[Store, Depends(get_store)]
Settings = Annotated[ApiSettings, Depends(get_settings)]
