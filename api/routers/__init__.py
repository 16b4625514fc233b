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

# Requests are matched route by route, in this order: the hot ones (the risk endpoint, tiles) come first.
ROUTERS = [
    health.router,
    risk.router,
    tiles.router,
    units.router,
    geojson.router,
    bulk.router,
    snapshots.router,
    mappage.router,
    geocode.router,
    ingest.router,
    exports.router,
]
