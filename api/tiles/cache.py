"""Finished tiles kept in memory per snapshot: an LRU bounded in bytes, emptied of old snapshots.

Keys start with the snapshot id, so a new snapshot never reads an old tile; `retain` drops the tiles of
snapshots no longer served as soon as the view changes. Vector tiles are kept gzip-compressed (as most
clients take them), so a cache hit costs a dictionary lookup and one send.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class Tile:
    body: bytes  # gzip-compressed when `gzipped`
    gzipped: bool
    empty: bool
    features: int = -1


class TileCache:
    """A thread-safe LRU of tiles, at most `max_bytes` of bodies; 0 turns it off."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[Hashable, ...], Tile] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._inflight: dict[tuple[Hashable, ...], asyncio.Future[Tile]] = {}
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, key: tuple[Hashable, ...]) -> Tile | None:
        tile = self._items.get(key)
        if tile is None:
            self.misses += 1
            return None
        self.hits += 1
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
        return tile

    def put(self, key: tuple[Hashable, ...], tile: Tile) -> None:
        if not self.enabled or len(tile.body) > self.max_bytes // 4:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old.body)
            self._items[key] = tile
            self._bytes += len(tile.body)
            while self._bytes > self.max_bytes and self._items:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped.body)

    def retain(self, snapshot_ids: set[int]) -> None:
        """Drop every tile of a snapshot not in `snapshot_ids` (keys start with the snapshot id)."""
        with self._lock:
            for key in [k for k in self._items if k[0] not in snapshot_ids]:
                self._bytes -= len(self._items.pop(key).body)

    async def get_or_render(self, key: tuple[Hashable, ...], render: Callable[[], Awaitable[Tile]]) -> Tile:
        """The cached tile, or render it once however many requests ask for it at the same time."""
        if not self.enabled:
            return await render()
        tile = self.get(key)
        if tile is not None:
            return tile
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Tile] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            tile = await render()
            self.put(key, tile)
            future.set_result(tile)
            return tile
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else needs to
            raise
        finally:
            self._inflight.pop(key, None)
