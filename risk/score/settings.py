"""Scoring settings (environment variables prefixed RISKMAP_SCORE_)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ScoreSettings(BaseSettings):
    """Environment variables prefixed RISKMAP_SCORE_."""

    model_config = SettingsConfigDict(env_prefix="RISKMAP_SCORE_", extra="ignore")

    profiles_dir: Path | None = Field(
        default=None, description="folder of profile TOML files that add to or replace the shipped ones"
    )
    inputs: Path | None = Field(
        default=None,
        description="CSV of unit inputs the feeds do not carry (treatment or response capacity, patients "
        "needing oxygen, deaths, clusters in hard-to-control settings): unit_id, metric, value, "
        "valid_from, valid_to, source",
    )
    min_population: int = Field(
        default=100, ge=1, description="below this many residents a sub-ward unit is 'insufficient data'"
    )
    cell_resolutions: list[int] = Field(default=[8, 9, 10], description="H3 resolutions scored")
    hotspot_alpha: float = Field(default=0.05, gt=0, lt=1, description="false-discovery rate of hot spots")
    hotspot_permutations: int = Field(
        default=0, ge=0, description="Gi* permutations (0: analytical z-scores, no numba warm-up)"
    )
    household_profile: str = Field(default="riskmap-household")
    cell_profile: str = Field(default="riskmap-cell")
    model_threads: int = Field(
        default=1, ge=1, description="OpenMP threads of one call fitting or applying the model"
    )
    threads: int = Field(
        default_factory=lambda: min(os.cpu_count() or 1, 4),
        ge=1,
        description="threads a full run spreads its heavy steps over (applying the model to millions of "
        "households beside the unit levels, id lookups, snapshot tables); default: the cores, at most 4",
    )
    model: str = Field(
        default="latest", description="model version to apply ('latest', 'none' or a version string)"
    )


@lru_cache(maxsize=1)
def score_settings() -> ScoreSettings:
    return ScoreSettings()


# Partitions and Dask: shared with linkage, so they live outside this package (see risk.runner).
from risk.runner import ScaleSettings, scale_settings  # noqa: E402

__all__ = ["ScaleSettings", "ScoreSettings", "scale_settings", "score_settings"]
