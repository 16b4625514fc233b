"""Settings for the HTTP API, tiles and the map page."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    """Environment variables prefixed RISKMAP_API_."""

    model_config = SettingsConfigDict(env_prefix="RISKMAP_API_", extra="ignore")

    host: str = Field(default="127.0.0.1")
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1)
    public_url: str = Field(
        default="",
        description="URL the API is reached at from outside (https://riskmap.example.vn), used in TileJSON "
        "and the style; empty: taken from each request",
    )
    cors_origins: list[str] = Field(default_factory=list, description="origins allowed to call the API")
    snapshot_poll_seconds: float = Field(
        default=0.25, gt=0, description="how often to look for a new snapshot (an update shows within this)"
    )
    basemap_url: str = Field(
        default="",
        description="XYZ template of a base map, e.g. https://maps.vnpost.vn/api/tm/{z}/{x}/{y}@2x.png?apikey=KEY; "
        "empty: offline fallback (ward outlines on a neutral background)",
    )
    basemap_attribution: str = Field(default="")
    basemap_tile_size: int = Field(
        default=0, ge=0, description="pixel size of the base map's tiles; 0: 512 for @2x templates, else 256"
    )
    public_cache_seconds: int = Field(default=60, ge=0, description="Cache-Control max-age of public answers")
    tile_cache_mb: int = Field(default=256, ge=0, description="in-memory tile cache per worker (0: off)")
    warm_first_view: bool = Field(
        default=True,
        description="draw the map's first view (the city at the start zoom) into the tile cache as soon as a "
        "snapshot is served, so the first visitor does not wait for it",
    )
    past_views: int = Field(default=3, ge=0, description="past snapshots kept in memory for as-of queries")
    auto_prepare: bool = Field(
        default=True,
        description="rebuild the map's polygons (map_units) when the households or groups changed",
    )


@lru_cache(maxsize=1)
def api_settings() -> ApiSettings:
    return ApiSettings()
