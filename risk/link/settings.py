"""Settings for linkage: how many cores a relink spreads its heavy steps over."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LinkSettings(BaseSettings):
    """Environment variables prefixed RISKMAP_LINK_."""

    model_config = SettingsConfigDict(env_prefix="RISKMAP_LINK_", extra="ignore")

    workers: int = Field(
        default_factory=lambda: min(os.cpu_count() or 1, 4),
        ge=1,
        description="threads a relink spreads its heavy steps over (the registry's population beside "
        "the event records, candidate pairs, their comparison); the result does not depend on it; "
        "default: the cores, at most 4",
    )


@lru_cache(maxsize=1)
def link_settings() -> LinkSettings:
    return LinkSettings()
