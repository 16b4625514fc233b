"""riskmap's map layers: what each draws at which zoom, for whom.

Wards and neighbourhood groups are drawn at every zoom; H3 cells at a resolution chosen by zoom (a cell
stays a few pixels to a few dozen pixels wide); hotspots are the H3 cells the snapshot flags; household
points only from zoom 15 and only for callers with household access, within their scope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from api.security import VIEW_AGGREGATE, VIEW_HOUSEHOLDS

MAX_SERVED_ZOOM = 22
HOUSEHOLD_MIN_ZOOM = 15
# (first zoom, H3 resolution): res 8 (~0.7 km²) up to z10, res 9 (~0.1 km²) at z11–12, res 10 beyond
H3_BY_ZOOM = ((0, 8), (11, 9), (13, 10))

UNIT_FIELDS = {
    "unit_id": "String",
    "name": "String",
    "level": "Number",
    "pending": "Number",
    "suppressed": "Boolean",
}


def detail_for(unit_type: str, z: int) -> int:
    """Which outline of a unit a zoom draws (`map_units.detail`): generalised ones for wards and groups
    up to zoom 15, the full geometry beyond (see `api.tiles.prepare.DETAILS`)."""
    if unit_type not in ("ward", "group"):
        return 0
    for detail in (9, 11, 13, 15):
        if z <= detail:
            return detail
    return 0


def h3_type(z: int) -> str:
    """The H3 unit type drawn at zoom z."""
    res = 8
    for first, r in H3_BY_ZOOM:
        if z >= first:
            res = r
    return f"h3_{res}"


@dataclass(frozen=True)
class LayerSpec:
    id: str
    title_vi: str
    title_en: str
    description: str
    source: Literal["units", "households"]
    permission: str
    minzoom: int
    maxzoom: int  # the zoom up to which the server has new detail (clients over-zoom beyond)
    fields: dict[str, str] = field(default_factory=dict)
    fixed_type: str | None = None  # the unit type drawn (None: H3 by zoom)
    hotspots_only: bool = False

    def unit_type(self, z: int) -> str | None:
        if self.source == "households":
            return None
        return self.fixed_type or h3_type(z)

    @property
    def ogc_id(self) -> str:
        return self.id


LAYERS: dict[str, LayerSpec] = {
    spec.id: spec
    for spec in (
        LayerSpec(
            "wards",
            "Cấp độ dịch theo phường, xã",
            "Epidemic level by ward",
            "The official (MoH) level of every ward and commune.",
            "units",
            VIEW_AGGREGATE,
            0,
            16,
            dict(UNIT_FIELDS),
            fixed_type="ward",
        ),
        LayerSpec(
            "groups",
            "Cấp độ theo tổ dân phố, khu phố",
            "Level by neighbourhood group",
            "Levels of neighbourhood groups (tổ dân phố, tổ); groups below k households are suppressed "
            "for the public.",
            "units",
            VIEW_AGGREGATE,
            0,
            16,
            dict(UNIT_FIELDS),
            fixed_type="group",
        ),
        LayerSpec(
            "h3",
            "Cấp độ theo ô lưới H3",
            "Level by H3 cell",
            "Levels of H3 cells, resolution 8 up to zoom 10, 9 at zooms 11-12, 10 from zoom 13; cells "
            "below k households are suppressed for the public.",
            "units",
            VIEW_AGGREGATE,
            0,
            16,
            {**UNIT_FIELDS, "hotspot": "Boolean"},
        ),
        LayerSpec(
            "hotspots",
            "Điểm nóng",
            "Hotspots",
            "H3 cells the snapshot flags as hotspots (same resolutions as the h3 layer).",
            "units",
            VIEW_AGGREGATE,
            0,
            16,
            {**UNIT_FIELDS, "hotspot": "Boolean"},
            hotspots_only=True,
        ),
        LayerSpec(
            "households",
            "Hộ gia đình",
            "Households",
            "Household points with riskmap's household level and flags, from zoom 15, for roles with "
            "household access and only within their area. No identifiers.",
            "households",
            VIEW_HOUSEHOLDS,
            HOUSEHOLD_MIN_ZOOM,
            18,
            {"level": "Number", "flags": "String"},
        ),
    )
}
