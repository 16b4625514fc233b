"""The FastAPI application factory: settings, store, the current snapshot and the tile cache on `app.state`."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import State

from api.assets import mount_assets, warm_assets
from api.gzip import GZip
from api.hotpath import HotRoutes
from api.routers import ROUTERS
from api.routers.mappage import STATIC
from api.settings import ApiSettings, api_settings
from api.snapshot import SnapshotHolder
from api.staticfiles import CompressedStaticFiles
from api.tiles.service import TileService
from api.trust import install as install_trust
from risk.store import Store, open_store

DESCRIPTION = """
riskmap serves epidemic risk levels of Ho Chi Minh City from the city down to the ward, neighbourhood
group and H3 cell (and, for authorised roles, the household), with the reasons and metrics behind every
level: a risk endpoint for other apps, GeoJSON, bulk files, vector and raster tiles with TileJSON, and a
MapLibre style for any base map.

Cấp độ dịch theo Quyết định 4800/QĐ-BYT: Cấp 1 xanh, Cấp 2 vàng, Cấp 3 cam, Cấp 4 đỏ. Level 0 means
unknown (not enough data). Groups and cells with fewer than k households are suppressed for the public.
"""

TAGS = [
    {"name": "risk", "description": "The level at a place, by coordinates, H3 cell, address or household."},
    {"name": "units", "description": "One unit's level and its history."},
    {"name": "geojson", "description": "Units with their levels as GeoJSON (RFC 7946), filtered and paged."},
    {"name": "bulk", "description": "Whole files per unit type, current and time series, CSV and JSON."},
    {"name": "tiles", "description": "MVT and PNG tiles, TileJSON 3.0, OGC-style URLs, the MapLibre style."},
    {"name": "snapshots", "description": "What is served and which days can be asked for."},
    {"name": "exports", "description": "Ward leaders' household lists (XLSX, CSV) and printable ward maps."},
    {"name": "health", "description": "Liveness and readiness."},
]


def create_app(store: Store | None = None, settings: ApiSettings | None = None) -> FastAPI:
    """Build the app. Without a store, the configured one (RISKMAP_STORE_*) is opened."""
    settings = settings or api_settings()
    store = store or open_store()
    holder = SnapshotHolder(
        store,
        settings.snapshot_poll_seconds,
        past_views=settings.past_views,
        auto_prepare=settings.auto_prepare,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        app.state.tiles.loop = loop  # from now on each new snapshot's first view is drawn ahead
        loop.run_in_executor(None, warm_assets, app)  # MapLibre's bundle compressed before it is asked for
        gc.collect()  # start-up garbage goes now; the view the refresh builds is then frozen
        holder.refresh()  # serve at once if a snapshot exists
        holder.start()
        try:
            yield
        finally:
            await app.state.tiles.stop_warming()  # before the store it draws from is closed
            await holder.stop()
            aclose = getattr(store, "aclose", None)
            if aclose is not None:
                await aclose()
            else:
                store.close()

    app = FastAPI(
        title="riskmap",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_tags=TAGS,
        telemetry=None if opentelemetry_configured() else NO_TELEMETRY,
    )
    app.add_exception_handler(HTTPException, _http_error)
    app.state = AppState()
    app.state.settings = settings
    app.state.store = store
    app.state.snapshots = holder
    app.state.tiles = TileService(holder, settings)
    # innermost: GET /v1/risk and /healthz go straight to their endpoints (api.hotpath)
    app.add_middleware(HotRoutes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
            expose_headers=["ETag"],
        )
    # Answers under ~1 packet gain nothing from gzip; tiles and bulk files arrive compressed already.
    app.add_middleware(GZip, minimum_size=1400, compresslevel=6)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static/app", CompressedStaticFiles(directory=STATIC), name="app-static")
    mount_assets(app)
    install_trust(app)  # authentication, limits, audit, metrics, JSON logs (api/trust)
    return app


class AppState(State):
    """Starlette's `State`, read at plain-attribute speed. `State` keeps its values in a dict behind
    `__getattr__`, which Python calls only after the ordinary lookup has failed and raised: 1.7 µs per read,
    and the hot endpoints read the snapshot holder, the authenticator and the limiter on every request.
    Each value is also kept in the instance's own dict, where the ordinary lookup finds it."""

    def __setattr__(self, key: Any, value: Any) -> None:
        super().__setattr__(key, value)
        self.__dict__[key] = value

    def __delattr__(self, key: Any) -> None:
        super().__delattr__(key)
        self.__dict__.pop(key, None)


NO_TELEMETRY: dict[str, Any] = {"tracing": False, "metrics": False, "logs": False}
_DEFERRED = {"ProxyTracerProvider", "_ProxyMeterProvider", "ProxyLoggerProvider"}


def opentelemetry_configured() -> bool:
    """Whether OpenTelemetry is set up (opentelemetry-instrument does it at start) or FastAPI is told to
    set it up. FastAPI asks on every request otherwise, which cost a tenth of a hot request's time; riskmap's
    own metrics and logs (Prometheus, JSON lines) do not depend on it."""
    if os.getenv("FASTAPI_OTEL_AUTO_CONFIGURE", "").lower() == "true":
        return True
    from opentelemetry import _logs, metrics, trace

    providers = (trace.get_tracer_provider(), metrics.get_meter_provider(), _logs.get_logger_provider())
    return any(type(p).__name__ not in _DEFERRED for p in providers)


async def _http_error(request: Request, exc: Exception) -> Response:
    """422s raised by hand (a rule over several parameters) take the shape of FastAPI's own validation
    errors, so every 422 matches the one schema the OpenAPI document gives for it."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 422 and isinstance(exc.detail, str):
        body = {"detail": [{"loc": ["query"], "msg": exc.detail, "type": "value_error"}]}
        return JSONResponse(body, status_code=422, headers=exc.headers)
    return await http_exception_handler(request, exc)
