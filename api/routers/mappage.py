"""The command centre's map page (MapLibre GL over riskmap's own style; every JS, CSS and font file is served by
this app, so it works with no internet). The page itself is `api/static/map.html` + `map.js` + `map.css`.

The page carries what the map needs to start inline (`<script id="boot">`): the style with each layer's
TileJSON already in it, the scored days and the current snapshot. MapLibre then starts the moment its
bundle has run and asks for the first tiles at once, instead of waiting for a style, then four TileJSON
documents, one round trip after another. The files it loads have versioned URLs (`?v=`: MapLibre's
version, a hash of map.js and map.css) so browsers may keep them (`api.staticfiles`).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.assets import vendor_version
from api.deps import Settings
from api.routers.snapshots import current_info, scored_days
from api.security import VIEW_AGGREGATE, CurrentPrincipal, require
from api.staticfiles import file_version
from api.tiles.service import FIRST_VIEW_LAYERS
from api.tiles.style import base_url, style, with_inline_tilejson

router = APIRouter(tags=["map"], dependencies=[Depends(require(VIEW_AGGREGATE))])
STATIC = Path(__file__).resolve().parent.parent / "static"


def boot_data(request: Request, principal: Any, settings: Any) -> dict[str, Any]:
    """What the page starts from: {} before any snapshot is served (the page then asks the API itself)."""
    holder = request.app.state.snapshots
    view = holder.view
    if view is None:
        return {}
    base = base_url(request, settings)
    return {
        "style": with_inline_tilejson(style(base, settings, view, principal), base, view),
        "first": ["basemap", *FIRST_VIEW_LAYERS],  # sources of the first view; the rest start after it
        "snapshots": scored_days(view, holder)["snapshots"],
        "current": current_info(view, holder),
    }


def _script_json(doc: dict[str, Any]) -> str:
    """JSON safe inside <script>: no '<' at all, so neither </script> nor <!-- can end it early."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


@router.get("/map", response_class=HTMLResponse, summary="Interactive risk map (Bản đồ nguy cơ)")
async def map_page(request: Request, principal: CurrentPrincipal, settings: Settings) -> HTMLResponse:
    config = {"basemapUrl": settings.basemap_url, "basemapAttribution": settings.basemap_attribution}
    boot = await run_in_threadpool(boot_data, request, principal, settings)
    page = (STATIC / "map.html").read_text(encoding="utf-8")
    for slot, value in (
        ("__CONFIG__", html.escape(json.dumps(config), quote=True)),
        ("__BOOT__", _script_json(boot)),
        ("__V_MAPLIBRE__", vendor_version("maplibre-gl")),
        ("__V_MAP_JS__", file_version(STATIC / "map.js")),
        ("__V_MAP_CSS__", file_version(STATIC / "map.css")),
    ):
        page = page.replace(slot, value)
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})
