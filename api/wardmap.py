"""A printable map of one ward for field teams: its neighbourhood groups (filled in their level colour,
named) and the listed households that carry a follow-up or support flag, numbered with their `STT` in the
household list (`api.householdlist`), on an A4 landscape page (PNG, 150 dpi).

Drawn with Pillow from the store's geometry (the ward from the gazetteer, groups from `groups`, points
from `households`): no base map, so it prints the same offline. A list filtered to some groups prints
their part of the ward (the rest faint); group names are written only where they fit inside the group.
"""

from __future__ import annotations

import io
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from PIL import Image, ImageDraw, ImageFont

from api.householdlist import FLAG_LABELS, WardList
from geo.gazetteer import load_gazetteer
from risk.store.tables import HOUSEHOLD_FLAGS

PAGE = (1754, 1240)  # A4 landscape at 150 dpi
MARGIN = 60
PANEL = 330  # legend column on the right
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))


@lru_cache(maxsize=8)
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans (Vietnamese diacritics) when installed, else Pillow's own font."""
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for d in FONT_DIRS:
        if (d / name).is_file():
            return ImageFont.truetype(str(d / name), size)
    return ImageFont.load_default(size)


def _rgba(colour: str, alpha: int) -> tuple[int, int, int, int]:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16), alpha)


class _Frame:
    """lon/lat → page pixels (equirectangular around the ward, north up, same scale both ways)."""

    def __init__(self, bounds: tuple[float, float, float, float], box: tuple[int, int, int, int]) -> None:
        w, s, e, n = bounds
        self.k = math.cos(math.radians((s + n) / 2))
        x0, y0, x1, y1 = box
        span_x, span_y = max((e - w) * self.k, 1e-9), max(n - s, 1e-9)
        self.scale = min((x1 - x0) / span_x, (y1 - y0) / span_y)
        self.ox = x0 + ((x1 - x0) - span_x * self.scale) / 2
        self.oy = y0 + ((y1 - y0) - span_y * self.scale) / 2
        self.w, self.n = w, n

    def xy(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        return np.column_stack(
            [self.ox + (lon - self.w) * self.k * self.scale, self.oy + (self.n - lat) * self.scale]
        )

    def metres_per_px(self) -> float:
        return 111_320.0 / self.scale


def _rings(geom: Any) -> list[np.ndarray]:
    out = []
    for poly in getattr(geom, "geoms", [geom]):
        if poly.is_empty or not hasattr(poly, "exterior"):
            continue
        out.append(np.asarray(poly.exterior.coords))
    return out


def render_ward_map(wl: WardList) -> bytes:
    """The ward's printable map as PNG bytes."""
    store, view = wl.store, wl.view
    ward = load_gazetteer().wards.loc[wl.filter.ward_id].geometry
    groups = store.read_table("groups", filters=[("ward_id", "=", wl.filter.ward_id)]).drop_duplicates(
        "group_id"
    )
    flagged = wl.rows[wl.rows[list(HOUSEHOLD_FLAGS)].fillna(False).any(axis=1)]
    points = store.read_table(
        "households",
        columns=["household_id", "lon", "lat"],
        filters=[("household_id", "in", flagged["household_id"].tolist())],
    ).drop_duplicates("household_id")
    flagged = flagged[["stt", "household_id", *HOUSEHOLD_FLAGS]].merge(points, on="household_id")

    img = Image.new("RGB", PAGE, (255, 255, 255))  # RGB: translucent fills blend into it
    draw = ImageDraw.Draw(img, "RGBA")
    top = MARGIN + 70
    geoms = [shapely.from_wkb(g) if isinstance(g, bytes) else g for g in groups["geometry"]]
    chosen = [geom for geom, gid in zip(geoms, groups["group_id"], strict=True) if gid in wl.filter.groups]
    # a list of some groups prints their part of the ward, large enough to read
    bounds = shapely.union_all(chosen).bounds if chosen else ward.bounds
    frame = _Frame(bounds, (MARGIN, top, PAGE[0] - PANEL - MARGIN, PAGE[1] - MARGIN - 40))
    label = font(15)
    for geom, gid, name in zip(geoms, groups["group_id"], groups["name"], strict=True):
        row = view.row("group", gid) or {}
        level = row.get("level")
        colour = view.colour(int(level)) if level is not None and level == level else "#9e9e9e"
        faint = bool(chosen) and gid not in wl.filter.groups
        for ring in _rings(geom):
            pts = [tuple(p) for p in frame.xy(ring[:, 0], ring[:, 1])]
            draw.polygon(pts, fill=_rgba(colour, 35 if faint else 90), outline=(96, 125, 139, 255))
        # the group's name only where it fits inside the group's outline on the page
        text = str(name or gid)
        w, s_, e, n = geom.bounds
        c = geom.representative_point()
        x, y = frame.xy(np.array([c.x]), np.array([c.y]))[0]
        fits = draw.textlength(text, font=label) < (e - w) * frame.k * frame.scale * 0.9
        if not faint and fits and (n - s_) * frame.scale > 18:
            draw.text((x, y), text, font=label, fill=(55, 71, 79, 255), anchor="mm")
    for ring in _rings(ward):
        pts = [tuple(p) for p in frame.xy(ring[:, 0], ring[:, 1])]
        draw.line([*pts, pts[0]], fill=(38, 50, 56, 255), width=4)
    xy = frame.xy(flagged["lon"].to_numpy(), flagged["lat"].to_numpy())
    f0 = flagged["flag_f0"].fillna(False).to_numpy(dtype=bool)
    small = font(13, bold=True)
    for (x, y), n, red in zip(xy, flagged["stt"], f0, strict=True):
        fill = (183, 28, 28, 255) if red else (230, 81, 0, 255)
        draw.ellipse((x - 5, y - 5, x + 5, y + 5), fill=fill, outline=(255, 255, 255, 255))
        draw.text(
            (x + 7, y - 7),
            str(int(n)),
            font=small,
            fill=(17, 17, 17, 255),
            stroke_width=2,
            stroke_fill="white",
        )

    # the map stays inside its box: white margins over anything drawn beyond
    white = (255, 255, 255)
    bottom = PAGE[1] - MARGIN - 40
    for box in (
        (0, 0, PAGE[0], top - 1),
        (PAGE[0] - PANEL - MARGIN + 1, 0, PAGE[0], PAGE[1]),
        (0, bottom + 1, PAGE[0], PAGE[1]),
        (0, 0, MARGIN - 1, PAGE[1]),
    ):
        draw.rectangle(box, fill=white)
    draw.rectangle((MARGIN, top, PAGE[0] - PANEL - MARGIN, bottom), outline=(176, 190, 197), width=1)
    draw.text((MARGIN, MARGIN - 10), f"{wl.ward_name} – hộ cần theo dõi", font=font(30, True), fill="black")
    draw.text(
        (MARGIN, MARGIN + 30),
        f"Ngày dữ liệu / as of {view.info.as_of.date().isoformat()} · snapshot {view.snapshot_id} · "
        f"{len(flagged)} hộ có cờ / flagged households · số = STT trong danh sách / numbers = list No.",
        font=font(16),
        fill=(69, 90, 100, 255),
    )
    _legend(draw, view, PAGE[0] - PANEL, top)
    _scale_bar(draw, frame, MARGIN, PAGE[1] - MARGIN + 5)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=False, dpi=(150, 150))
    return out.getvalue()


def _legend(draw: ImageDraw.ImageDraw, view: Any, x: int, y: int) -> None:
    draw.text((x, y), "Cấp độ tổ dân phố / group level", font=font(16, True), fill="black")
    y += 30
    for level in (1, 2, 3, 4, 0):
        draw.rectangle((x, y, x + 22, y + 18), fill=_rgba(view.colour(level), 110), outline="black")
        draw.text((x + 30, y), view.label(level, "vi")[:34], font=font(14), fill="black")
        y += 26
    y += 14
    draw.text((x, y), "Hộ có cờ / flagged households", font=font(16, True), fill="black")
    y += 30
    for fill, text in (((183, 28, 28, 255), "có F0 / with F0"), ((230, 81, 0, 255), "cờ khác / other flags")):
        draw.ellipse((x + 4, y + 3, x + 16, y + 15), fill=fill)
        draw.text((x + 30, y), text, font=font(14), fill="black")
        y += 24
    y += 8
    for code in HOUSEHOLD_FLAGS.values():
        vi, en = FLAG_LABELS[code]
        draw.text((x, y), f"· {vi} / {en}"[:44], font=font(12), fill=(69, 90, 100, 255))
        y += 20


def _scale_bar(draw: ImageDraw.ImageDraw, frame: _Frame, x: int, y: int) -> None:
    target = frame.metres_per_px() * 200
    length = next(v for v in (50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 1e9) if v >= target / 2)
    px = length / frame.metres_per_px()
    draw.line((x, y, x + px, y), fill="black", width=4)
    label = f"{int(length)} m" if length < 1000 else f"{length / 1000:g} km"
    draw.text((x + px + 10, y - 10), label, font=font(14), fill="black")
