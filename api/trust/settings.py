"""Settings for the API's protections: rate limits, request limits, logs, metrics, audit flushing."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TrustSettings(BaseSettings):
    """Environment variables prefixed RISKMAP_TRUST_."""

    model_config = SettingsConfigDict(env_prefix="RISKMAP_TRUST_", extra="ignore")

    rate_per_key_s: float = Field(default=200.0, gt=0, description="requests/s per API key or token subject")
    rate_per_ip_s: float = Field(default=50.0, gt=0, description="requests/s per IP address for the public")
    burst_s: float = Field(default=2.0, gt=0, description="a caller may burst this many seconds of its rate")
    max_body_bytes: int = Field(default=64 << 20, ge=1024, description="larger request bodies get 413")
    max_headers: int = Field(default=100, ge=10, description="more request headers get 431")
    max_header_bytes: int = Field(default=32 * 1024, ge=1024, description="larger request headers get 431")
    max_query_chars: int = Field(default=4096, ge=256, description="longer query strings get 414")
    json_logs: bool = Field(default=True, description="one JSON object per log line (riskmap.* and access)")
    access_log: bool = Field(default=True, description="log every request (method, route, status, ms)")
    audit_flush_s: float = Field(
        default=0.5, gt=0, description="how often buffered audit entries are written"
    )
    metrics_refresh_s: float = Field(default=5.0, gt=0, description="how often ingest counts are re-read")


@lru_cache(maxsize=1)
def trust_settings() -> TrustSettings:
    return TrustSettings()
