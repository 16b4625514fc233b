"""Persistence for riskmap: one contract (`Store`), two backends (embedded, PostGIS)."""

from __future__ import annotations

from risk.store.base import BatchInfo, SnapshotInfo, Store, StoreError, StoreUnavailable
from risk.store.settings import StoreSettings


def open_store(settings: StoreSettings | None = None) -> Store:
    """Open the configured backend (embedded unless RISKMAP_STORE_BACKEND=postgis)."""
    settings = settings or StoreSettings()
    if settings.backend == "postgis":
        from risk.store.postgis import PostgisStore

        if not settings.dsn:
            raise StoreError("RISKMAP_STORE_BACKEND=postgis needs RISKMAP_STORE_DSN (a PostgreSQL URL)")
        return PostgisStore(settings.dsn, schema=settings.schema_name, settings=settings)
    from risk.store.embedded import EmbeddedStore

    return EmbeddedStore(settings.path)


__all__ = [
    "BatchInfo",
    "SnapshotInfo",
    "Store",
    "StoreError",
    "StoreSettings",
    "StoreUnavailable",
    "open_store",
]
