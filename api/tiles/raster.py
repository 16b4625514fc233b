"""Raster overlay tiles (PNG) for base-map platforms and GIS portals that only take XYZ images.

A PNG tile is painted from the layer's vector tile (so both backends agree, and the raster costs one
vector tile plus painting): transparent where nothing is drawn, units filled in their level colour at
60 % opacity with a darker outline, suppressed units light grey, hotspot cells outlined in red,
household points as dots. Sizes 256 px (`{y}.png`) and 512 px (`{y}@2x.png`, as Vmap's retina base
tiles) over the same tiling, so an overlay lines up with any XYZ base map.
"""

from __future__ import annotations

import io
from functools import lru_cache

from mapbox_vector_tile.Mapbox import vector_tile_pb2
from PIL import Image, ImageDraw

from api.answers import UNKNOWN_COLOUR
from api.privacy import SUPPRESSED_COLOUR

SIZES = (256, 512)
FILL_OPACITY = 0.6
HOTSPOT_COLOUR = "#b71c1c"


def _rgb(colour: str) -> tuple[int, int, int]:
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _darker(rgb: tuple[int, int, int], f: float = 0.6) -> tuple[int, int, int, int]:
    return int(rgb[0] * f), int(rgb[1] * f), int(rgb[2] * f), 255


@lru_cache(maxsize=4)
def empty_png(size: int) -> bytes:
    """A fully transparent tile (what an overlay with nothing to draw sends)."""
    buf = io.BytesIO()
    Image.new("RGBA", (size, size), (0, 0, 0, 0)).save(buf, format="PNG")
    return buf.getvalue()


def _rings(cmds: list[int], scale: float) -> list[list[tuple[float, float]]]:
    rings: list[list[tuple[float, float]]] = []
    x = y = 0
    i = 0
    while i < len(cmds):
        cmd, count = cmds[i] & 7, cmds[i] >> 3
        i += 1
        if cmd == 7:
            continue
        for _ in range(count):
            dx, dy = cmds[i], cmds[i + 1]
            i += 2
            x += (dx >> 1) ^ -(dx & 1)
            y += (dy >> 1) ^ -(dy & 1)
            if cmd == 1:
                rings.append([])
            rings[-1].append((x * scale, y * scale))
    return rings


def _area(ring: list[tuple[float, float]]) -> float:
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True)) / 2


def paint(mvt: bytes, size: int, colours: dict[int, str]) -> bytes:
    """A PNG of a vector tile's features; `colours` maps levels to their colours."""
    if size not in SIZES:
        raise ValueError(f"raster tiles are {' or '.join(map(str, SIZES))} pixels")
    if not mvt:
        return empty_png(size)
    tile = vector_tile_pb2.tile()
    tile.ParseFromString(mvt)
    fill = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(fill)
    outlines: list[tuple[list[tuple[float, float]], tuple[int, int, int, int], int]] = []
    dots: list[tuple[float, float, tuple[int, int, int]]] = []
    for layer in tile.layers:
        scale = size / (layer.extent or 4096)
        keys = list(layer.keys)
        values = [_value(v) for v in layer.values]
        for f in layer.features:
            tags = list(f.tags)
            props = {keys[tags[i]]: values[tags[i + 1]] for i in range(0, len(tags), 2)}
            level = props.get("level")
            if props.get("suppressed"):
                rgb = _rgb(SUPPRESSED_COLOUR)
            elif isinstance(level, int):
                rgb = _rgb(colours.get(level, UNKNOWN_COLOUR))
            else:
                rgb = _rgb(UNKNOWN_COLOUR)
            rings = _rings(list(f.geometry), scale)
            if f.type == vector_tile_pb2.tile.Point:
                dots += [(px, py, rgb) for ring in rings for px, py in ring]
                continue
            edge = ((*_rgb(HOTSPOT_COLOUR), 255), 2) if props.get("hotspot") else (_darker(rgb), 1)
            for ring in rings:
                if len(ring) < 3:
                    continue
                if _area(ring) > 0:  # exterior (positive area in y-down tile space)
                    draw.polygon(ring, fill=(*rgb, 255))
                else:
                    draw.polygon(ring, fill=(0, 0, 0, 0))
                outlines.append((ring, *edge))
    alpha = fill.getchannel("A").point(lambda a: int(a * FILL_OPACITY))
    fill.putalpha(alpha)
    draw = ImageDraw.Draw(fill)
    for ring, colour, width in outlines:
        draw.line([*ring, ring[0]], fill=colour, width=width * (size // 256))
    r = 2.5 * size / 256
    for px, py, rgb in dots:
        draw.ellipse((px - r, py - r, px + r, py + r), fill=(*rgb, 255), outline=(255, 255, 255, 255))
    buf = io.BytesIO()
    fill.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def _value(v: object) -> object:
    for name in (
        "string_value",
        "float_value",
        "double_value",
        "int_value",
        "uint_value",
        "sint_value",
        "bool_value",
    ):
        if v.HasField(name):  # type: ignore[attr-defined]
            return getattr(v, name)
    return None
