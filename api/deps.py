"""Request dependencies: the snapshot view, the store, settings, the caller (typed aliases for routes)."""

from __future__ import annotations

import datetime as dt
import inspect
from functools import lru_cache
from typing import Annotated, Any, Literal

from fastapi import Depends, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from api.security import (
    PUBLIC,
    VIEW_AGGREGATE,
    VIEW_HOUSEHOLDS,
    VIEW_RISK,
    Principal,
    authenticate,
    require,
)
from api.settings import ApiSettings
from api.snapshot import SnapshotHolder, SnapshotView
from risk.store import Store

AreaType = Literal["city", "ward", "group", "h3_8", "h3_9", "h3_10"]
AREA_TYPES: tuple[str, ...] = ("city", "ward", "group", "h3_8", "h3_9", "h3_10")


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


async def view_as_of(request: Request, as_of: dt.date | None) -> SnapshotView:
    """The current view, or the view of the last snapshot on or before `as_of` (built off the loop)."""
    if as_of is None:
        return get_view(request)
    holder: SnapshotHolder = request.app.state.snapshots
    view = await run_in_threadpool(holder.view_at, as_of)
    if view is None:
        raise HTTPException(404, detail=f"no snapshot on or before {as_of.isoformat()}")
    return view


AsOfQuery = Annotated[
    dt.date | None,
    Query(
        description="answer from the last snapshot on or before this day (ISO date); default: the current one"
    ),
]


async def get_view_as_of(request: Request, as_of: AsOfQuery = None) -> SnapshotView:
    return await view_as_of(request, as_of)


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


View = Annotated[SnapshotView, Depends(get_view)]
ViewAsOf = Annotated[SnapshotView, Depends(get_view_as_of)]
Holder = Annotated[SnapshotHolder, Depends(get_holder)]
StoreDep = Annotated[Store, Depends(get_store)]
Settings = Annotated[ApiSettings, Depends(get_settings)]
AggregateViewer = Annotated[Principal, Depends(require(VIEW_AGGREGATE))]
RiskViewer = Annotated[Principal, Depends(require(VIEW_RISK))]
HouseholdViewer = Annotated[Principal, Depends(require(VIEW_HOUSEHOLDS))]


@lru_cache(maxsize=16)
def _call_style(fn: Any) -> str | None:
    """How to call an authenticator by hand: with the request, with nothing, or not at all (it has
    dependencies of its own that only FastAPI can solve)."""
    params = list(inspect.signature(fn).parameters.values())
    if not params:
        return "none"
    if len(params) == 1 and (params[0].annotation in (Request, "Request") or params[0].name == "request"):
        return "request"
    return None


def direct_authentication() -> bool:
    """True when `authenticate` needs only the request: hot routes may then call it themselves."""
    return _call_style(authenticate) is not None


async def principal_of(request: Request) -> Principal:
    """The caller as `authenticate` (or a test's override of it) says, without FastAPI's dependency
    solving, which on the hot risk endpoint cost as much as the answer itself. Only for routes chosen
    when `direct_authentication()` holds; an override with dependencies of its own is refused."""
    fn = request.app.dependency_overrides.get(authenticate, authenticate)
    style = _call_style(fn)
    if style is None:
        raise RuntimeError("this authenticator has dependencies: the route must declare it with Depends")
    result = fn(request) if style == "request" else fn()
    return await result if inspect.isawaitable(result) else result


def check_permission(principal: Principal, permission: str) -> None:
    """What `api.security.require` does, inside a handler (401 for the public, 403 for other roles)."""
    if not principal.can(permission):
        if principal is PUBLIC or principal.subject == "public":
            raise HTTPException(401, detail="authentication required", headers={"WWW-Authenticate": "Bearer"})
        raise HTTPException(403, detail=f"role(s) {sorted(principal.roles)} may not {permission}")
