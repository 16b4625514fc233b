"""Who is asking, and what they may see: the one place every endpoint, tile, export and query asks.

A `Principal` carries roles and two scopes (admin units, each covering everything below it): one for
viewing and one for data capture (DHIS2's organisation units, SORMAS jurisdictions). Routes never test
roles or units themselves: they declare a permission with `require(...)` and filter rows with
`Principal.visible(...)`.

How a request becomes a Principal is decided in `authenticate`: an API key (`Authorization: Bearer
rk_…` or `X-API-Key: rk_…`, checked against the hashed keys of the store) or a bearer JWT of the
configured identity provider (`api/auth/`); with no credentials the caller is the public, who sees
aggregate levels only. Bad credentials are a 401, never a silent downgrade to the public. Each caller is
then held to its rate (per key, per token subject, or per IP for the public).

Routes that touch household-level or personal data, capture or administration are recorded in the audit
log by `require` itself (`AUDITED`), so a new route of that kind is audited without further code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import numpy as np
import pandas as pd
from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from risk.store.base import StoreError

F = TypeVar("F", bound=Callable[..., Any])

# Permissions, by what they protect.
VIEW_AGGREGATE = "view:aggregate"  # area and cell levels, GeoJSON, tiles of areas
VIEW_RISK = "view:risk"  # the risk endpoint for other apps
VIEW_HOUSEHOLDS = "view:households"  # household-level rows, lists, points (within the view scope)
VIEW_PERSONAL = "view:personal"  # names, phones, ID numbers unmasked (within the view scope)
CAPTURE = "capture:records"  # ingest, quarantine, corrections (within the capture scope)
ADMIN = "admin"  # users, keys, audit log, configuration
GEOCODE = "geocode"  # the geocoder (heavy: authenticated callers only)
READ_METRICS = "view:metrics"  # Prometheus metrics

PERMISSIONS = (
    VIEW_AGGREGATE,
    VIEW_RISK,
    VIEW_HOUSEHOLDS,
    VIEW_PERSONAL,
    CAPTURE,
    ADMIN,
    GEOCODE,
    READ_METRICS,
)

ROLES: dict[str, frozenset[str]] = {
    "public": frozenset({VIEW_AGGREGATE, VIEW_RISK}),
    "app": frozenset({VIEW_AGGREGATE, VIEW_RISK, GEOCODE}),
    "ward_leader": frozenset({VIEW_AGGREGATE, VIEW_RISK, VIEW_HOUSEHOLDS, VIEW_PERSONAL, GEOCODE}),
    "command_centre": frozenset({VIEW_AGGREGATE, VIEW_RISK, VIEW_HOUSEHOLDS, GEOCODE}),
    "data_steward": frozenset({VIEW_AGGREGATE, VIEW_RISK, CAPTURE, GEOCODE}),
    "monitor": frozenset({VIEW_AGGREGATE, READ_METRICS}),
    "admin": frozenset(PERMISSIONS),
}
# What using a permission is recorded as in the audit log (a route may name its own action instead).
AUDITED: dict[str, str] = {
    VIEW_HOUSEHOLDS: "household.view",
    VIEW_PERSONAL: "personal.view",
    CAPTURE: "capture",
    ADMIN: "admin",
}


@dataclass(frozen=True)
class Principal:
    """An authenticated caller (or the public).

    `view_units` / `capture_units` are admin-unit ids (wards, groups, or a city for everything); None
    means no restriction. `expand` turns a unit into itself and everything below it.
    """

    subject: str
    roles: frozenset[str]
    view_units: frozenset[str] | None = None
    capture_units: frozenset[str] | None = None
    expand: Callable[[str], Iterable[str]] | None = field(default=None, compare=False, repr=False)
    via: str = ""  # "key:<key_id>", "jwt", or "" for the public
    rate_per_s: float | None = None  # this caller's own rate limit (None: the default)

    @functools.cached_property  # asked on every request (each permission check): roles never change
    def permissions(self) -> frozenset[str]:
        out: set[str] = set()
        for r in self.roles:
            out |= ROLES.get(r, frozenset())
        return frozenset(out)

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def _expanded(self, units: frozenset[str] | None) -> set[str] | None:
        if units is None:
            return None
        if self.expand is None:
            return set(units)
        out: set[str] = set()
        for u in units:
            out |= self.expand(u)
        return out

    def view_scope(self) -> set[str] | None:
        """Every unit this caller may view household-level data in (None = all)."""
        return self._expanded(self.view_units)

    def capture_scope(self) -> set[str] | None:
        """Every unit this caller may capture data for (None = all)."""
        return self._expanded(self.capture_units)

    def can_capture(self, *unit_ids: str | None) -> bool:
        scope = self.capture_scope()
        return self.can(CAPTURE) and (scope is None or any(u in scope for u in unit_ids if u))

    def scope_filters(self, column: str = "ward_id", *, capture: bool = False) -> list[tuple[str, str, Any]]:
        """Store filters that keep only rows in the view (or capture) scope: [] when unrestricted.

        Callers that cannot see household-level data get a filter that matches nothing.
        """
        if not self.can(CAPTURE if capture else VIEW_HOUSEHOLDS):
            return [(column, "in", [])]
        scope = self.capture_scope() if capture else self.view_scope()
        return [] if scope is None else [(column, "in", sorted(scope))]

    def sees(self, *unit_ids: str | None) -> bool:
        """True when any of the given units (e.g. a household's ward and group) is in the view scope."""
        scope = self.view_scope()
        return scope is None or any(u in scope for u in unit_ids if u)

    def visible(self, frame: pd.DataFrame, columns: Iterable[str] = ("ward_id", "group_id")) -> np.ndarray:
        """Row mask of a frame of household-level rows this caller may see (vectorised)."""
        if not self.can(VIEW_HOUSEHOLDS):
            return np.zeros(len(frame), dtype=bool)
        scope = self.view_scope()
        if scope is None:
            return np.ones(len(frame), dtype=bool)
        keep = np.zeros(len(frame), dtype=bool)
        for c in columns:
            if c in frame.columns:
                keep |= frame[c].isin(scope).to_numpy(dtype=bool)
        return keep


PUBLIC = Principal("public", frozenset({"public"}), view_units=frozenset(), capture_units=frozenset())


def _unauthorised(detail: str) -> HTTPException:
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": 'Bearer realm="riskmap"'})


def _credential(request: Request) -> str | None:
    """The credential a request carries (API key or bearer token), None without one; 401 if malformed."""
    header = key = None
    for name, value in request.scope.get("headers") or ():  # ASGI names are lower case; first one wins
        if name == b"authorization" and header is None:
            header = value.decode("latin-1")
        elif name == b"x-api-key" and key is None:
            key = value.decode("latin-1")
    if header is not None and key is not None:
        raise _unauthorised("send either Authorization or X-API-Key, not both")
    if key is not None:
        token = key.strip()
    elif header is not None:
        scheme, _, token = header.strip().partition(" ")
        if scheme.lower() != "bearer":
            raise _unauthorised("use Authorization: Bearer <API key or token>")
        token = token.strip()
    else:
        return None
    if not token or len(token) > 8192 or not token.isascii() or not token.isprintable():
        raise _unauthorised("malformed credential")
    return token


async def authenticate(request: Request) -> Principal:
    """The caller of a request (401 for bad credentials, 429 over its rate). Without credentials: the
    public. The result is kept on the request, so the work is done once however many checks ask."""
    state = request.scope.setdefault("state", {})  # what `request.state` wraps, without its miss exception
    cached = state.get("principal")
    if cached is not None:
        return cached
    token = _credential(request)
    auth = getattr(request.app.state, "auth", None)
    ip = request.client.host if request.client else ""
    if token is None:
        principal = PUBLIC
    elif auth is None:
        raise _unauthorised("authentication is not configured on this server")
    else:
        principal = auth.cached(token)
        if principal is None:
            try:
                principal = await run_in_threadpool(auth.verify, token, ip)
            except PermissionError as exc:
                raise _unauthorised(str(exc)) from None
            except StoreError as exc:  # users and keys never read yet, and the store is down
                raise HTTPException(
                    503, detail=f"cannot check credentials now: {exc}", headers={"Retry-After": "5"}
                ) from None
    limiter = getattr(request.app.state, "limiter", None)
    if limiter is not None:
        wait = limiter.take(principal, ip)
        if wait:
            raise HTTPException(
                429,
                detail=f"rate limit exceeded for {principal.via or 'your address'}; retry in {wait:.1f} s",
                headers={"Retry-After": str(max(1, int(wait + 0.999)))},
            )
    state["principal"] = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require(permission: str, *, audit: str | None = None) -> Callable[..., Any]:
    """A dependency that lets a request through only with `permission` (401 anonymous, 403 otherwise).

    Using a permission of `AUDITED` (or any, with `audit=` naming the action) is recorded in the audit
    log after the response, with its status; refusals of those permissions are recorded too.
    """
    if permission not in PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")
    action = audit or AUDITED.get(permission)

    async def check(request: Request, principal: CurrentPrincipal) -> Principal:
        if action:
            request.state.audit = (action, principal)
        if not principal.can(permission):
            if not principal.via:  # the public: credentials would help
                raise HTTPException(
                    401,
                    detail="authentication required",
                    headers={"WWW-Authenticate": 'Bearer realm="riskmap"'},
                )
            raise HTTPException(403, detail=f"role(s) {sorted(principal.roles)} may not {permission}")
        return principal

    check.riskmap_permission = permission  # type: ignore[attr-defined]  # read by tests/trust
    return check


def declares(permission: str, *, by_layer: Mapping[str, str] | None = None) -> Callable[[F], F]:
    """Marks an endpoint that checks `permission` itself instead of through a `require` dependency
    (hot paths, where each level of dependency solving costs as much as the answer).

    `by_layer` names the further permission some values of its `layer` path parameter need (household
    tiles). The route walker (`app_routes`) and the access-matrix test read both marks.
    """
    if permission not in PERMISSIONS or any(p not in PERMISSIONS for p in (by_layer or {}).values()):
        raise ValueError(f"unknown permission in {permission!r}, {by_layer!r}")

    def mark(endpoint: F) -> F:
        endpoint.riskmap_permission = permission  # type: ignore[attr-defined]
        endpoint.riskmap_layer_permissions = dict(by_layer or {})  # type: ignore[attr-defined]
        return endpoint

    return mark


def _dependant_permissions(dependant: Any) -> set[str]:
    out: set[str] = set()
    stack = [dependant]
    while stack:
        dep = stack.pop()
        if dep is None:
            continue
        p = getattr(dep.call, "riskmap_permission", None)
        if p:
            out.add(p)
        stack.extend(dep.dependencies)
    return out


def declared_permissions(route: Any) -> set[str]:
    """The permissions a route declares through `require` (anywhere in its dependency tree) or, for
    endpoints that check by hand, through `declares`."""
    own = getattr(getattr(route, "endpoint", None), "riskmap_permission", None)
    return _dependant_permissions(getattr(route, "dependant", None)) | ({own} if own else set())


@dataclass(frozen=True)
class RouteInfo:
    """One HTTP operation of an app, with the permissions it declares (see `app_routes`)."""

    methods: frozenset[str]
    path: str
    permissions: frozenset[str]
    route: Any  # the APIRoute, or another Starlette route (mounts, docs)

    def permissions_for(self, layer: str | None) -> frozenset[str]:
        """What a request needs when its `layer` path parameter is `layer` (see `declares`)."""
        extra = getattr(getattr(self.route, "endpoint", None), "riskmap_layer_permissions", None) or {}
        return self.permissions | ({extra[layer]} if layer in extra else frozenset())


def app_routes(
    routes: Iterable[Any], prefix: str = "", extra: frozenset[str] = frozenset()
) -> list[RouteInfo]:
    """Every route of an app, through included routers (FastAPI ≥ 0.16x wraps them), each with the
    permissions its own dependencies and those of the routers including it declare."""
    from fastapi.routing import APIRoute

    out: list[RouteInfo] = []
    for r in routes:
        original = getattr(r, "original_router", None)
        if original is not None:  # an included router: its context adds a prefix and dependencies
            ctx = getattr(r, "include_context", None)
            deps = {
                p
                for d in getattr(ctx, "dependencies", None) or []
                if (p := getattr(d.dependency, "riskmap_permission", None))
            }
            out += app_routes(original.routes, prefix + (getattr(ctx, "prefix", "") or ""), extra | deps)
        elif isinstance(r, APIRoute):
            perms = frozenset(declared_permissions(r) | extra)
            out.append(RouteInfo(frozenset(r.methods), prefix + r.path, perms, r))
        else:
            out.append(
                RouteInfo(
                    frozenset(getattr(r, "methods", None) or ()), prefix + getattr(r, "path", ""), extra, r
                )
            )
    return out
