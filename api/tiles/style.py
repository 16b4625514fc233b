"""TileJSON 3.0 per layer and the MapLibre style that draws riskmap's layers over any base map.

Both are built per request from this server's address (`RISKMAP_API_PUBLIC_URL`, else the request's),
so a Vmap-style base map (`RISKMAP_API_BASEMAP_URL`, an XYZ template with its key) or any other can add
riskmap's layers by URL. The style's template is `api/static/style/riskmap.json`; its `{{…}}`
placeholders are filled here: the base URL, the colour of each level (from the served rule profile),
the map's centre and a legend. A caller without household access gets the style without the household
layer (its tiles would answer 401).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request

from api.answers import UNKNOWN_COLOUR
from api.privacy import SUPPRESSED_COLOUR
from api.security import Principal
from api.settings import ApiSettings
from api.snapshot import SnapshotView
from api.tiles.layers import LAYERS, LayerSpec

TEMPLATE = Path(__file__).resolve().parent.parent / "static" / "style" / "riskmap.json"
ATTRIBUTION = "riskmap · cấp độ dịch theo Bộ Y tế (MoH levels)"


def base_url(request: Request, settings: ApiSettings) -> str:
    return (settings.public_url or str(request.base_url)).rstrip("/")


def bounds_of(view: SnapshotView) -> list[float]:
    b = view.map.units["ward"].bounds
    if not len(b):
        return [-180.0, -85.0511, 180.0, 85.0511]
    return [
        round(float(b[:, 0].min()), 6),
        round(float(b[:, 1].min()), 6),
        round(float(b[:, 2].max()), 6),
        round(float(b[:, 3].max()), 6),
    ]


def tilejson(
    spec: LayerSpec, base: str, view: SnapshotView, fmt: str = "mvt", as_of: str | None = None
) -> dict[str, Any]:
    """TileJSON 3.0.0 of one layer (vector by default; `fmt="png"` for the raster overlay). With `as_of`
    (an ISO day) the tile URLs ask for that day's snapshot: the map's date selector switches by URL."""
    w, s, e, n = bounds_of(view)
    suffix = ".png" if fmt == "png" else ".mvt"
    if as_of:
        suffix += f"?as_of={as_of}"
    out: dict[str, Any] = {
        "tilejson": "3.0.0",
        "name": f"riskmap {spec.id}",
        "description": f"{spec.title_vi} / {spec.title_en}. {spec.description}",
        "version": "1.0.0",
        "attribution": ATTRIBUTION,
        "scheme": "xyz",
        "tiles": [f"{base}/tiles/{spec.id}/{{z}}/{{x}}/{{y}}{suffix}"],
        "minzoom": spec.minzoom,
        "maxzoom": spec.maxzoom,
        "bounds": [w, s, e, n],
        "center": [round((w + e) / 2, 6), round((s + n) / 2, 6), 10],
        "riskmap:snapshot_id": view.snapshot_id,
        "riskmap:as_of": view.info.as_of.isoformat(),
    }
    if fmt != "png":
        out["vector_layers"] = [
            {
                "id": spec.id,
                "description": spec.description,
                "minzoom": spec.minzoom,
                "maxzoom": spec.maxzoom,
                "fields": dict(spec.fields),
            }
        ]
    return out


def level_colour_expression(view: SnapshotView) -> list[Any]:
    """MapLibre expression: the level's colour; suppressed and unknown units grey."""
    match: list[Any] = ["match", ["coalesce", ["get", "level"], -1]]
    for level in range(1, view.profile.levels + 1):
        match += [level, view.colour(level)]
    match.append(UNKNOWN_COLOUR)
    return ["case", ["==", ["get", "suppressed"], True], SUPPRESSED_COLOUR, match]


@lru_cache(maxsize=1)
def _template() -> dict[str, Any]:
    return json.loads(TEMPLATE.read_text(encoding="utf-8"))


def _fill(value: Any, slots: dict[str, Any]) -> Any:
    if isinstance(value, str):
        if value.startswith("{{") and value.endswith("}}") and value[2:-2] in slots:
            return slots[value[2:-2]]
        return value.replace("{{base}}", slots["base"])
    if isinstance(value, list):
        return [_fill(v, slots) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, slots) for k, v in value.items()}
    return value


def style(base: str, settings: ApiSettings, view: SnapshotView, principal: Principal) -> dict[str, Any]:
    """The MapLibre style JSON (version 8)."""
    w, s, e, n = bounds_of(view)
    legend = [
        {"level": lvl, "colour": view.colour(lvl), "vi": view.label(lvl, "vi"), "en": view.label(lvl, "en")}
        for lvl in range(1, view.profile.levels + 1)
    ] + [{"level": 0, "colour": UNKNOWN_COLOUR, "vi": view.label(0, "vi"), "en": view.label(0, "en")}]
    doc = _fill(
        _template(),
        {
            "base": base,
            "level_colour": level_colour_expression(view),
            "center": [round((w + e) / 2, 5), round((s + n) / 2, 5)],
            "legend": legend,
        },
    )
    if not principal.can(LAYERS["households"].permission):
        doc["sources"].pop("households", None)
        doc["layers"] = [lyr for lyr in doc["layers"] if lyr.get("source") != "households"]
    if settings.basemap_url:
        size = settings.basemap_tile_size or (512 if "@2x" in settings.basemap_url else 256)
        doc["sources"] = {
            "basemap": {
                "type": "raster",
                "tiles": [settings.basemap_url],
                "tileSize": size,
                "attribution": settings.basemap_attribution,
                "maxzoom": 19,
            },
            **doc["sources"],
        }
        doc["layers"].insert(1, {"id": "basemap", "type": "raster", "source": "basemap"})
    return doc
