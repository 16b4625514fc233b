"""Hot routes, dispatched before the framework's router.

The point risk endpoint and `/healthz` are asked thousands of times a second. Through Starlette's router
and FastAPI's request handling (route matching over every route, the request/response wrapper, the
dependency solver and its exit stacks) a request spent about half its server time in the framework, not
in the answer (measured in process: see `docs/architecture.md`, serving). `HotRoutes`, the innermost
middleware, hands a `GET` for one of these exact paths straight to the endpoint function the router
holds for it, so:

- the route stays registered as before: the OpenAPI document, the route walker of `api.security` and its
  permission marks (`declares`) are unchanged, and so is the code that answers;
- every outer middleware sees the request alike (trust: limits, request ids, metrics, access log, audit;
  gzip; CORS), and `scope["route"]` is set as the router sets it (metrics and logs label by route);
- an `HTTPException` becomes the app's own error answer (the handler registered for it), any other
  exception goes up to the trust middleware's clean 500, as through the router.

Only endpoints marked `@hot` qualify, and only while they take nothing but the request (no dependencies,
no parameters for FastAPI to read): an endpoint that grows a dependency goes back to the router by itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import HTTPException
from fastapi.routing import APIRoute
from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response

F = TypeVar("F", bound=Callable[..., Any])


def hot(endpoint: F) -> F:
    """Marks an endpoint `HotRoutes` may call directly (it must take only the request)."""
    endpoint.riskmap_hot = True  # type: ignore[attr-defined]
    return endpoint


def _qualifies(route: Any) -> bool:
    if not isinstance(route, APIRoute) or not getattr(route.endpoint, "riskmap_hot", False):
        return False
    d = route.dependant
    return (
        "GET" in route.methods
        and "{" not in route.path
        and d.request_param_name is not None
        and not (d.dependencies or d.path_params or d.query_params or d.header_params)
        and not (d.cookie_params or d.body_params or d.response_param_name or d.background_tasks_param_name)
    )


def _hot_routes(routes: list[Any], prefix: str) -> list[tuple[str, APIRoute]]:
    """(full path, route) of the qualifying routes, through included routers (FastAPI ≥ 0.16x wraps
    them); a router included with dependencies of its own keeps all its routes on the router."""
    out: list[tuple[str, APIRoute]] = []
    for r in routes:
        original = getattr(r, "original_router", None)
        if original is not None:
            ctx = getattr(r, "include_context", None)
            if not getattr(ctx, "dependencies", None):
                out += _hot_routes(original.routes, prefix + (getattr(ctx, "prefix", "") or ""))
        elif _qualifies(r):
            out.append((prefix + r.path, r))
    return out


class HotRoutes:
    """Pure ASGI middleware: `GET` on a hot route's path → its endpoint; everything else → the router."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._routes: dict[str, APIRoute] | None = None

    def routes(self, fastapi_app: Any) -> dict[str, APIRoute]:
        # built on the first request: routers are included after the middleware is added
        if self._routes is None:
            self._routes = dict(_hot_routes(fastapi_app.routes, ""))
        return self._routes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        route = self.routes(scope["app"]).get(get_route_path(scope))
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"], scope["endpoint"], scope["path_params"] = route, route.endpoint, {}
        request = Request(scope, receive, send)
        try:
            response = await route.endpoint(request)
        except HTTPException as exc:
            response = _handler(scope["app"], exc)(request, exc)
            if inspect.isawaitable(response):
                response = await response
        assert isinstance(response, Response), f"hot endpoint {route.path} must return a Response"
        await response(scope, receive, send)


def _handler(app: Any, exc: Exception) -> Callable[..., Any]:
    """The app's handler for this exception, looked up by class as Starlette's exception middleware does."""
    handlers = app.exception_handlers
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]
    raise exc
