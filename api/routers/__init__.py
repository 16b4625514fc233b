"""HTTP routers; the app includes each of ROUTERS."""

from __future__ import annotations

from api.routers import geocode, geojson, health, ingest, mappage, risk, snapshots

ROUTERS = [
    health.router,
    risk.router,
    geojson.router,
    snapshots.router,
    mappage.router,
    geocode.router,
    ingest.router,
]
