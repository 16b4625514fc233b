"""The FastAPI application factory: settings, store and the current snapshot on `app.state`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles

from api.assets import mount_assets
from api.routers import ROUTERS
from api.routers.mappage import STATIC
from api.settings import ApiSettings, api_settings
from api.snapshot import SnapshotHolder
from api.trust import install as install_trust
from risk.store import Store, open_store

DESCRIPTION = """
riskmap serves epidemic risk levels of Ho Chi Minh City from the city down to the ward (and, for
authorised roles, the household), with the reasons and metrics behind every level.

Cấp độ dịch theo Quyết định 4800/QĐ-BYT: Cấp 1 xanh, Cấp 2 vàng, Cấp 3 cam, Cấp 4 đỏ.
"""


def create_app(store: Store | None = None, settings: ApiSettings | None = None) -> FastAPI:
    """Build the app. Without a store, the configured one (RISKMAP_STORE_*) is opened."""
    settings = settings or api_settings()
    store = store or open_store()
    holder = SnapshotHolder(store, settings.snapshot_poll_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        holder.refresh()  # serve at once if a snapshot exists
        holder.start()
        try:
            yield
        finally:
            await holder.stop()
            store.close()

    app = FastAPI(
        title="riskmap",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.snapshots = holder
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
        )
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static/app", StaticFiles(directory=STATIC), name="app-static")
    mount_assets(app)
    install_trust(app)  # authentication, limits, audit, metrics, JSON logs (api/trust)
    return app
