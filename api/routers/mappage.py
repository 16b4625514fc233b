"""The command centre's map page (MapLibre GL over riskmap's own style; every JS, CSS and font file is served by
this app, so it works with no internet). The page itself is `api/static/map.html` + `map.js` + `map.css`."""

from __future__ import annotations

import html
import json
from pathlib import Path

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from api.deps import Settings
from api.security import VIEW_AGGREGATE, require

router = APIRouter(tags=["map"], dependencies=[Depends(require(VIEW_AGGREGATE))])
STATIC = Path(__file__).resolve().parent.parent / "static"


@router.get("/map", response_class=HTMLResponse, summary="Interactive risk map (Bản đồ nguy cơ)")
async def map_page(settings: Settings) -> HTMLResponse:
    config = {"basemapUrl": settings.basemap_url, "basemapAttribution": settings.basemap_attribution}
    page = (STATIC / "map.html").read_text(encoding="utf-8")
    page = page.replace("__CONFIG__", html.escape(json.dumps(config), quote=True))
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})
