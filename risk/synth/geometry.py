"""Small geometric tools for laying out a ward: a metric frame, a space-filling order, area slabs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON_EQ = 111_320.0


@dataclass(frozen=True)
class LocalFrame:
    """Equirectangular metres around a ward's centre: exact enough within a ward (< 0.1 % at 20 km)."""

    lon0: float
    lat0: float

    @classmethod
    def around(cls, geom: shapely.Geometry) -> LocalFrame:
        c = geom.centroid
        return cls(float(c.x), float(c.y))

    @property
    def kx(self) -> float:
        return M_PER_DEG_LON_EQ * float(np.cos(np.radians(self.lat0)))

    def to_m(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.asarray(lon) - self.lon0) * self.kx, (np.asarray(lat) - self.lat0) * M_PER_DEG_LAT

    def to_deg(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(x) / self.kx + self.lon0, np.asarray(y) / M_PER_DEG_LAT + self.lat0

    def geom_to_m(self, geom: shapely.Geometry) -> shapely.Geometry:
        kx, lon0, lat0 = self.kx, self.lon0, self.lat0
        return shapely.transform(
            geom, lambda c: np.column_stack([(c[:, 0] - lon0) * kx, (c[:, 1] - lat0) * M_PER_DEG_LAT])
        )


def hilbert_index(x: np.ndarray, y: np.ndarray, order: int = 16) -> np.ndarray:
    """Position of each point on a Hilbert curve over the points' bounding box (vectorised).

    Consecutive runs of the sorted order are spatially compact, which is how neighbourhood groups are
    cut out of a ward's households."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = 1 << order
    if not len(x):
        return np.zeros(0, dtype=np.int64)
    span = max(float(np.ptp(x)), float(np.ptp(y)), 1e-12)
    xi = np.clip(((x - x.min()) / span * (n - 1)).astype(np.int64), 0, n - 1)
    yi = np.clip(((y - y.min()) / span * (n - 1)).astype(np.int64), 0, n - 1)
    d = np.zeros(len(x), dtype=np.int64)
    s = n >> 1
    while s > 0:
        rx = (xi & s) > 0
        ry = (yi & s) > 0
        d += s * s * ((3 * rx) ^ ry)
        # rotate the quadrant
        flip = ~ry
        swap_x = np.where(flip & rx, n - 1 - xi, xi)
        swap_y = np.where(flip & rx, n - 1 - yi, yi)
        xi = np.where(flip, swap_y, xi)
        yi = np.where(flip, swap_x, yi)
        s >>= 1
    return d


def long_axis(geom: shapely.Geometry) -> np.ndarray:
    """Unit vector along the long side of the geometry's minimum rotated rectangle."""
    rect = shapely.oriented_envelope(geom)
    coords = shapely.get_coordinates(rect)
    if len(coords) < 4:
        return np.array([1.0, 0.0])
    e1 = coords[1] - coords[0]
    e2 = coords[2] - coords[1]
    v = e1 if np.hypot(*e1) >= np.hypot(*e2) else e2
    norm = float(np.hypot(*v))
    return v / norm if norm > 0 else np.array([1.0, 0.0])


def slab_cuts(
    geom: shapely.Geometry, axis: np.ndarray, shares: np.ndarray, cells: int = 40_000
) -> np.ndarray:
    """Positions along `axis` that cut `geom` into slabs holding the given shares of its area.

    The area is measured on a regular grid of about `cells` points inside the polygon (fast on detailed
    polygons, and exact to well under 1 % of the area); cut positions are quantiles of the points'
    position along the axis. Returns len(shares) - 1 cuts."""
    shares = np.asarray(shares, dtype=np.float64)
    if len(shares) <= 1:
        return np.zeros(0)
    minx, miny, maxx, maxy = geom.bounds
    area = float(shapely.area(geom))
    step = max(np.sqrt(area / cells), 1e-9)
    xs = np.arange(minx + step / 2, maxx, step)
    ys = np.arange(miny + step / 2, maxy, step)
    gx, gy = np.meshgrid(xs, ys)
    gx, gy = gx.ravel(), gy.ravel()
    inside = shapely.contains_xy(geom, gx, gy)
    u = np.sort(gx[inside] * axis[0] + gy[inside] * axis[1])
    if not len(u):
        c = shapely.get_coordinates(geom) @ axis
        u = np.linspace(c.min(), c.max(), 100)
    targets = np.cumsum(shares)[:-1] / shares.sum()
    return np.quantile(u, targets)
