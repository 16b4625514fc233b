"""Settings for the HTTP API and the map page."""

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
    cors_origins: list[str] = Field(default_factory=list, description="origins allowed to call the API")
    snapshot_poll_seconds: float = Field(
        default=1.0, gt=0, description="how often to look for a new snapshot"
    )
    basemap_url: str = Field(
        default="",
        description="XYZ template of a base map, e.g. https://maps.vnpost.vn/api/tm/{z}/{x}/{y}@2x.png?apikey=KEY; "
        "empty: offline fallback (ward outlines on a neutral background)",
    )
    basemap_attribution: str = Field(default="")
    public_cache_seconds: int = Field(default=60, ge=0, description="Cache-Control max-age of public answers")


@lru_cache(maxsize=1)
def api_settings() -> ApiSettings:
    return ApiSettings()
