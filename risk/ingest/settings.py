"""Settings for ingest: where extra source mappings live, and the limits rows must respect."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IngestSettings(BaseSettings):
    """Environment variables prefixed RISKMAP_INGEST_."""

    model_config = SettingsConfigDict(env_prefix="RISKMAP_INGEST_", extra="ignore")

    sources_dir: Path | None = Field(default=None, description="extra folder of source mapping TOML files")
    epidemic_start: dt.date = Field(
        default=dt.date(2020, 1, 1), description="event dates before this are impossible for COVID-19 feeds"
    )
    max_field_chars: int = Field(default=500, ge=16, description="longer values are rejected as too long")


@lru_cache(maxsize=1)
def ingest_settings() -> IngestSettings:
    return IngestSettings()
