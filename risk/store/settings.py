"""Which store backend to open, and how."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StoreSettings(BaseSettings):
    """Environment variables prefixed RISKMAP_STORE_."""

    model_config = SettingsConfigDict(env_prefix="RISKMAP_STORE_", extra="ignore")

    backend: Literal["embedded", "postgis"] = Field(default="embedded")
    path: Path = Field(default=Path("var/store"), description="embedded store directory")
    dsn: str = Field(default="", description="PostgreSQL connection string (postgis backend)")
    schema_name: str = Field(default="riskmap", alias="RISKMAP_STORE_SCHEMA", description="PostgreSQL schema")
    pool_min: int = Field(default=1, ge=0)
    pool_max: int = Field(default=8, ge=1)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    statement_timeout_ms: int = Field(default=60_000, ge=0)
