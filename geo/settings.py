"""Settings for geography: where the reference data lives and which gazetteer version is the default."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The repository's data/ folder (reference data shipped with riskmap). An installed copy (Docker) sets
# RISKMAP_GEO_DATA_DIR instead.
_REPO_DATA = Path(__file__).resolve().parent.parent / "data"


class GeoSettings(BaseSettings):
    """Environment variables prefixed RISKMAP_GEO_."""

    model_config = SettingsConfigDict(env_prefix="RISKMAP_GEO_", extra="ignore")

    data_dir: Path = Field(
        default=_REPO_DATA, description="folder with boundaries/, population/, crosswalks/"
    )
    gazetteer: str = Field(default="hcmc-2025", description="default admin geography version")
    full_detail_boundaries: bool = Field(
        default=True, description="use the full-detail ward polygons (else the simplified ones)"
    )


@lru_cache(maxsize=1)
def geo_settings() -> GeoSettings:
    return GeoSettings()
