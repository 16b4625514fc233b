"""Serving a tile request: checks, caching, conditional requests and compression, for both URL styles.

`/tiles/{layer}/{z}/{x}/{y}.mvt` (and `.png`, `@2x.png`) and the OGC-style
`/collections/{layer}/tiles/WebMercatorQuad/{z}/{x}/{y}` end here. In order: an impossible tile is 400;
a layer the caller may not see is 401/403 (household tiles outside the caller's area are 403); the
ETag (snapshot, geometry version, audience) answers `If-None-Match` with 304 before any work; then the
tile comes from the cache or is drawn once (concurrent requests for it wait for that one drawing);
an empty vector tile is 204. Vector tiles travel gzip-compressed to every client that accepts it.

The map's first view is the same for every visitor (the whole city at the style's start zoom), so each
newly served snapshot has those tiles drawn into the cache at once (`TileService.warm`), off the request
path: the first visitor after a start or a new snapshot does not wait for them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import gzip
import hashlib
import logging
import time
from functools import lru_cache

from fastapi import HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from api.security import PUBLIC, Principal
from api.settings import ApiSettings
from api.snapshot import SnapshotHolder, SnapshotView
from api.tiles.cache import Tile, TileCache
from api.tiles.layers import HOUSEHOLD_MIN_ZOOM, LAYERS, MAX_SERVED_ZOOM, LayerSpec
from api.tiles.raster import SIZES, empty_png, paint
from api.tiles.render import Audience, finish, vector_tile
from geo.tiles import TileError, check_tile, tile_lonlat_bounds, tiles_covering

MVT_TYPE = "application/vnd.mapbox-vector-tile"
# the layers the map's first view draws (the rest start after it: api/static/map.js)
FIRST_VIEW_LAYERS = ("wards",)
# the public's tiles and those of roles that see small areas (the command centre's wall screen)
FIRST_VIEW_AUDIENCES = (Audience(sees_small=False, scope=None), Audience(sees_small=True, scope=None))
log = logging.getLogger("riskmap.tiles")


class TileService:
    """The app's tile cache, emptied of old snapshots whenever the served view changes."""

    def __init__(self, holder: SnapshotHolder, settings: ApiSettings) -> None:
        self.holder = holder
        self.settings = settings
        self.cache = TileCache(settings.tile_cache_mb << 20)
        self.loop: asyncio.AbstractEventLoop | None = None  # set when the app starts: warming runs there
        self.warming: concurrent.futures.Future[int] | None = None
        holder.listeners.append(self._swapped)

    def _swapped(self, view: SnapshotView) -> None:
        keep = {view.snapshot_id, *(v.snapshot_id for v in list(self.holder._past.values()))}
        self.cache.retain(keep)
        if self.loop is not None and self.cache.enabled and self.settings.warm_first_view:
            # called from the poller's thread or from the loop itself: never wait here
            self.warming = asyncio.run_coroutine_threadsafe(self.warm(view), self.loop)

    async def stop_warming(self) -> None:
        """Cancel a warming in progress and wait for it (at shutdown, before the store closes: a
        warming left to draw from a closed store's pool never ends, and the loop never stops)."""
        self.loop = None  # no new warming from here on
        warming, self.warming = self.warming, None
        if warming is None or warming.done():
            return
        warming.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(asyncio.wrap_future(warming), timeout=10)

    async def vector(
        self, view: SnapshotView, spec: LayerSpec, audience: Audience, z: int, x: int, y: int
    ) -> Tile:
        """A vector tile from the cache, or drawn once (however many ask for it at the same time)."""

        async def draw() -> Tile:
            return finish(await vector_tile(view, spec, z, x, y, audience))

        return await self.cache.get_or_render((view.snapshot_id, spec.id, audience.key(spec), z, x, y), draw)

    async def warm(self, view: SnapshotView, zoom: int | None = None) -> int:
        """Draw the map's first view of a snapshot into the cache: every tile of the city at the style's
        start zoom, for the first view's layers and audiences. Returns the number of tiles drawn."""
        from api.tiles.style import bounds_of, start_zoom

        z = start_zoom() if zoom is None else zoom
        started, drawn = time.perf_counter(), 0
        for _, x, y in tiles_covering(bounds_of(view), z):
            for layer in FIRST_VIEW_LAYERS:
                for audience in FIRST_VIEW_AUDIENCES:
                    if self.holder.view is not view:
                        return drawn  # a newer snapshot came in: its own warming takes over
                    try:
                        await self.vector(view, LAYERS[layer], audience, z, x, y)
                    except Exception:
                        log.exception("warming tile %s/%s/%s/%s failed", layer, z, x, y)
                        return drawn
                    drawn += 1
        log.info(
            "first view of snapshot %s in the tile cache: %d tiles at zoom %d in %.0f ms",
            view.snapshot_id,
            drawn,
            z,
            (time.perf_counter() - started) * 1000,
        )
        return drawn


def layer_spec(layer: str) -> LayerSpec:
    spec = LAYERS.get(layer)
    if spec is None:
        raise HTTPException(404, detail=f"no tile layer {layer!r}; layers: {', '.join(LAYERS)}")
    return spec


def parse_tile_name(name: str) -> tuple[int, str, int]:
    """`123.mvt` → (123, "mvt", 1); `123@2x.png` → (123, "png", 2); `123` → (123, "mvt", 1)."""
    stem, _, ext = name.partition(".")
    ext = ext or "mvt"
    scale = 1
    if "@" in stem:
        stem, _, suffix = stem.partition("@")
        if suffix not in ("1x", "2x"):
            raise HTTPException(400, detail=f"tile {name!r}: the only scales are @1x and @2x")
        scale = int(suffix[0])
    if ext not in ("mvt", "pbf", "png"):
        raise HTTPException(400, detail=f"tile {name!r}: formats are .mvt (or .pbf) and .png")
    try:
        y = int(stem)
    except ValueError:
        raise HTTPException(400, detail=f"tile {name!r}: y must be a whole number") from None
    return y, ("png" if ext == "png" else "mvt"), scale


def check_access(spec: LayerSpec, principal: Principal, view: SnapshotView, z: int, x: int, y: int) -> None:
    if not principal.can(spec.permission):
        if principal is PUBLIC or principal.subject == "public":
            raise HTTPException(401, detail="authentication required", headers={"WWW-Authenticate": "Bearer"})
        raise HTTPException(403, detail=f"role(s) {sorted(principal.roles)} may not see layer {spec.id!r}")
    scope = principal.view_scope()
    if spec.source != "households" or scope is None:
        return
    wards = view.map.units["ward"]
    groups = view.map.units["group"]
    in_scope = set()
    for unit in scope:
        if unit in wards.pos:
            in_scope.add(unit)
        elif unit in groups.pos:
            in_scope.add(str(groups.ward_ids[groups.pos[unit]]))
        elif unit == view.gazetteer.city["unit_id"]:
            return
    touched = {str(wards.ids[i]) for i in wards.in_bbox(tile_lonlat_bounds(z, x, y))}
    if not touched & in_scope:
        raise HTTPException(403, detail=f"tile {z}/{x}/{y} lies outside your area")


def etag_of(view: SnapshotView, audience_key: str) -> str:
    return f'W/"s{view.snapshot_id}-{_geometry_tag(view.map.fingerprint)}-{audience_key}"'


@lru_cache(maxsize=8)
def _geometry_tag(fingerprint: tuple[object, ...]) -> str:
    return hashlib.sha256(repr(fingerprint).encode()).hexdigest()[:8]


def not_modified(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    if header.strip() == "*":
        return True
    weak = etag.removeprefix("W/")
    return any(t.strip().removeprefix("W/") == weak for t in header.split(","))


async def view_for(request: Request, as_of: dt.date | None) -> SnapshotView:
    holder: SnapshotHolder = request.app.state.snapshots
    if as_of is None:
        view = holder.view
        if view is None:
            raise HTTPException(503, detail="no risk snapshot has been published yet; run `riskmap score`")
        return view
    past = await run_in_threadpool(holder.view_at, as_of)
    if past is None:
        raise HTTPException(404, detail=f"no snapshot on or before {as_of.isoformat()}")
    return past


async def serve_tile(
    request: Request,
    principal: Principal,
    layer: str,
    z: int,
    x: int,
    y: int,
    fmt: str = "mvt",
    size: int = 256,
    as_of: dt.date | None = None,
) -> Response:
    spec = layer_spec(layer)
    try:
        check_tile(z, x, y, MAX_SERVED_ZOOM)
    except TileError as exc:
        raise HTTPException(400, detail=str(exc)) from None
    if fmt == "png" and size not in SIZES:
        raise HTTPException(400, detail=f"raster tiles are {' or '.join(map(str, SIZES))} pixels")
    view = await view_for(request, as_of)
    check_access(spec, principal, view, z, x, y)
    audience = Audience.of(principal)
    key = audience.key(spec)
    service: TileService = request.app.state.tiles
    settings: ApiSettings = request.app.state.settings
    etag = etag_of(view, key)
    private = spec.source == "households" or audience.sees_small
    headers = {
        "ETag": etag,
        "Cache-Control": f"{'private' if private else 'public'}, max-age={settings.public_cache_seconds}",
        "Vary": "Accept-Encoding, Authorization",
        "Access-Control-Expose-Headers": "ETag",
    }
    if not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    if spec.source == "households" and z < HOUSEHOLD_MIN_ZOOM:
        tile = Tile(b"", gzipped=False, empty=True, features=0)  # points start at zoom 15: nothing to draw
    else:
        tile = await service.vector(view, spec, audience, z, x, y)
    if fmt == "png":
        return await _png(service, view, spec, key, z, x, y, size, tile, headers)
    if tile.empty:
        return Response(status_code=204, headers=headers)
    if tile.gzipped and "gzip" in request.headers.get("accept-encoding", ""):
        return Response(tile.body, media_type=MVT_TYPE, headers={**headers, "Content-Encoding": "gzip"})
    body = gzip.decompress(tile.body) if tile.gzipped else tile.body
    return Response(body, media_type=MVT_TYPE, headers=headers)


async def _png(
    service: TileService,
    view: SnapshotView,
    spec: LayerSpec,
    key: str,
    z: int,
    x: int,
    y: int,
    size: int,
    tile: Tile,
    headers: dict[str, str],
) -> Response:
    if tile.empty:
        return Response(empty_png(size), media_type="image/png", headers=headers)
    colours = {lvl: view.colour(lvl) for lvl in range(0, view.profile.levels + 1)}

    async def draw() -> Tile:
        mvt = gzip.decompress(tile.body) if tile.gzipped else tile.body
        png = await run_in_threadpool(paint, mvt, size, colours)
        return Tile(png, gzipped=False, empty=False)

    raster = await service.cache.get_or_render((view.snapshot_id, spec.id, key, z, x, y, "png", size), draw)
    return Response(raster.body, media_type="image/png", headers=headers)
