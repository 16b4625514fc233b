"""Where partitioned work runs: a dask.distributed cluster when a scheduler is configured, else this
process. Shared by partitioned scoring (`risk.score.partition`) and the partitioned relink
(`risk.link.partition`); kept light (no scoring or linkage imports) so either can use it cheaply."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ScaleSettings(BaseSettings):
    """Environment variables prefixed RISKMAP_SCALE_: scoring partition by partition, on Dask or here."""

    model_config = SettingsConfigDict(env_prefix="RISKMAP_SCALE_", extra="ignore")

    scheduler: str | None = Field(
        default=None,
        description="dask.distributed scheduler address (tcp://host:8786); empty: partitions run in-process",
    )
    partition_resolution: int = Field(
        default=5,
        ge=0,
        le=7,
        description="one city is split by the H3 parent cells of its households at this resolution",
    )
    reload_partitions: bool = Field(
        default=True,
        description="a worker loads a partition again for its household rows instead of holding it between "
        "the two passes (memory bounded by one partition, not by all the worker's partitions)",
    )


@lru_cache(maxsize=1)
def scale_settings() -> ScaleSettings:
    return ScaleSettings()


class Runner:
    """Maps a function over partitions: on a dask.distributed client when one is given or a scheduler
    address is configured (RISKMAP_SCALE_SCHEDULER), else one after another in this process."""

    def __init__(self, client: Any = None, scheduler: str | None = None) -> None:
        self._own = False
        if client is None:
            address = scheduler if scheduler is not None else scale_settings().scheduler
            if address:
                from distributed import Client

                client = Client(address)
                self._own = True
        self.client = client

    @property
    def where(self) -> str:
        if self.client is None:
            return "in-process"
        workers = self.client.scheduler_info().get("workers", {})
        return f"dask ({len(workers)} workers)"

    def place(self, sources: Sequence[Any], *, keep: bool) -> list[Any]:
        """Inputs given in memory are sent to the workers once; loaders are kept as they are (each task
        loads its partition) unless `keep`, when they are loaded once and held on the workers."""
        from risk.score.inputs import ScoreInputs
        from risk.score.partition import load

        if self.client is None:
            return [load(s) if keep else s for s in sources]
        held = [s for s in sources if isinstance(s, ScoreInputs)]
        scattered = iter(self.client.scatter(held) if held else [])
        out = []
        for s in sources:
            if isinstance(s, ScoreInputs):
                out.append(next(scattered))
            elif keep:
                out.append(self.client.submit(load, s, pure=False))
            else:
                out.append(s)
        return out

    def map(
        self,
        fn: Callable[..., Any],
        items: Sequence[Any],
        per_item: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> list[Any]:
        """`fn(item[, per_item[i]], **kwargs)` for every item; kwargs are sent to each worker once."""
        extra = [(p,) for p in per_item] if per_item is not None else [()] * len(items)
        if self.client is None:
            return [fn(item, *e, **kwargs) for item, e in zip(items, extra, strict=True)]
        shared = {k: self.client.scatter(v, broadcast=True) for k, v in kwargs.items()}
        futures = [
            self.client.submit(fn, item, *e, pure=False, **shared)
            for item, e in zip(items, extra, strict=True)
        ]
        return self.client.gather(futures)

    def close(self) -> None:
        if self._own and self.client is not None:
            self.client.close()
