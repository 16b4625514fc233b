"""HTTP routers; the app includes each of ROUTERS."""

from __future__ import annotations

from api.routers import (
    bulk,
    exports,
    geocode,
    geojson,
    health,
    ingest,
    mappage,
    risk,
    snapshots,
    tiles,
    units,
)

ROUTERS = [
    health.router,
    risk.router,
    units.router,
    geojson.router,
    bulk.router,
    tiles.router,
    snapshots.router,
    mappage.router,
    geocode.router,
    ingest.router,
    exports.router,
]
