"""Bulk files per unit type, current and through time, in CSV and JSON (as the Covid Act Now API does).

`/v1/bulk/{units}.json`, `{units}.csv` (every unit's current level and metrics; CSV flattens metrics
into `metrics.<name>` columns) and `{units}.timeseries.json`, `{units}.timeseries.csv` (one entry per
unit and scored day). `units` is one of city, wards, groups, h3_8, h3_9, h3_10. Groups and cells below k
households are suppressed for the public (empty level and metrics). Files are built once per snapshot.
"""

from __future__ import annotations

import gzip
import io
from typing import Any

import numpy as np
import orjson
import pandas as pd
from fastapi import APIRouter, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool

from api.answers import _json
from api.deps import AggregateViewer, AsOfQuery, view_as_of
from api.history import HistoryCache, type_series
from api.privacy import sees_small_areas, small_mask
from api.snapshot import SnapshotView

router = APIRouter(prefix="/v1/bulk", tags=["bulk"])

COLLECTIONS = {
    "city": "city",
    "wards": "ward",
    "groups": "group",
    "h3_8": "h3_8",
    "h3_9": "h3_9",
    "h3_10": "h3_10",
}
KINDS = {"json": "current", "csv": "current", "timeseries.json": "timeseries", "timeseries.csv": "timeseries"}


def _hidden(view: SnapshotView, unit_type: str, ids: pd.Series, sees_small: bool) -> np.ndarray:
    if sees_small or unit_type not in ("group", "h3_8", "h3_9", "h3_10"):
        return np.zeros(len(ids), dtype=bool)
    units = view.map.units[unit_type]
    counts = np.array([units.households[units.pos[u]] if u in units.pos else -1 for u in ids], dtype=np.int64)
    return small_mask(unit_type, counts, view.k)


def current_rows(view: SnapshotView, unit_type: str, sees_small: bool) -> pd.DataFrame:
    """Every unit of a type in the view, with its level, labels and parsed metrics."""
    if unit_type not in view.unit_types:
        return pd.DataFrame(columns=["unit_id"])
    rows = view.levels.xs(unit_type, level="unit_type", drop_level=True).reset_index(drop=True)
    hidden = _hidden(view, unit_type, rows["unit_id"], sees_small)
    level = rows["level"].astype("Int64").astype(object).where(~hidden, None)
    out = pd.DataFrame(
        {
            "unit_id": rows["unit_id"],
            "unit_type": unit_type,
            "name": rows["name"],
            "parent_id": rows["parent_id"],
            "level": level,
            "suppressed": hidden,
            "label_vi": [
                view.label(int(v), "vi") if v is not None and v is not pd.NA else None for v in level
            ],
            "label_en": [
                view.label(int(v), "en") if v is not None and v is not pd.NA else None for v in level
            ],
            "colour": [view.colour(int(v)) if v is not None and v is not pd.NA else None for v in level],
            "pending_level": rows["pending_level"].astype("Int64").astype(object).where(~hidden, None),
            "profile": rows["profile"],
            "profile_version": rows["profile_version"],
            "as_of": view.info.as_of.isoformat(),
            "snapshot_id": view.snapshot_id,
        }
    )
    metrics = [({} if h else _json(m, {})) for m, h in zip(rows["metrics"], hidden, strict=True)]
    out["metrics"] = metrics
    return out


def _json_bytes(records: list[dict[str, Any]]) -> bytes:
    return orjson.dumps(records, option=orjson.OPT_SERIALIZE_NUMPY, default=_default)


def _default(v: Any) -> Any:
    if v is pd.NA or v is None:
        return None
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(type(v))


def _csv(frame: pd.DataFrame) -> bytes:
    flat = frame.drop(columns=["metrics"]).copy()
    metrics = pd.json_normalize(frame["metrics"].tolist()) if len(frame) else pd.DataFrame()
    metrics.columns = [f"metrics.{c}" for c in metrics.columns]
    flat = pd.concat([flat.reset_index(drop=True), metrics.reset_index(drop=True)], axis=1)
    buf = io.StringIO()
    flat.to_csv(buf, index=False)
    return buf.getvalue().encode("utf-8")


def build(
    request: Request, view: SnapshotView, unit_type: str, kind: str, fmt: str, sees_small: bool
) -> bytes:
    if kind == "current":
        frame = current_rows(view, unit_type, sees_small)
        if fmt == "json":
            return _json_bytes(frame.to_dict("records"))
        return _csv(frame)
    cache = getattr(request.app.state, "history_cache", None)
    if cache is None:
        cache = request.app.state.history_cache = HistoryCache()
    parts = []
    for info, rows in type_series(request.app.state.snapshots, cache, unit_type):
        if info.snapshot_id > view.snapshot_id or not len(rows):
            continue
        hidden = _hidden(view, unit_type, rows["unit_id"], sees_small)
        parts.append(
            pd.DataFrame(
                {
                    "unit_id": rows["unit_id"],
                    "date": info.as_of.date().isoformat(),
                    "snapshot_id": info.snapshot_id,
                    "level": rows["level"].astype("Int64").astype(object).where(~hidden, None),
                    "pending_level": rows["pending_level"]
                    .astype("Int64")
                    .astype(object)
                    .where(~hidden, None),
                    "metrics": [
                        ({} if h else _json(m, {})) for m, h in zip(rows["metrics"], hidden, strict=True)
                    ],
                }
            )
        )
    series = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=["unit_id", "date", "snapshot_id", "level", "pending_level", "metrics"])
    )
    if fmt == "csv":
        return _csv(series.sort_values(["unit_id", "date"]))
    out = []
    for uid, g in series.sort_values(["unit_id", "date"]).groupby("unit_id", sort=True):
        out.append(
            {
                "unit_id": uid,
                "unit_type": unit_type,
                "levelsTimeseries": g.drop(columns=["unit_id"]).to_dict("records"),
            }
        )
    return _json_bytes(out)


@router.get(
    "/{name}",
    summary="Bulk file of one unit type: current or time series, JSON or CSV",
    description="`name` is `<units>.<kind>`: units one of city, wards, groups, h3_8, h3_9, h3_10; kind one of "
    "json, csv, timeseries.json, timeseries.csv. E.g. `/v1/bulk/wards.csv`, `/v1/bulk/groups.timeseries.json`.",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": [
                        {
                            "unit_id": "hcmc-2025:26740",
                            "unit_type": "ward",
                            "level": 2,
                            "metrics": {"population": 47000},
                        }
                    ]
                },
                "text/csv": {
                    "example": "unit_id,unit_type,name,level\nhcmc-2025:26740,ward,Phường Sài Gòn,2\n"
                },
            }
        },
        404: {"description": "no such bulk file"},
    },
)
async def bulk(request: Request, principal: AggregateViewer, name: str, as_of: AsOfQuery = None) -> Response:
    units, _, kind_name = name.partition(".")
    if units not in COLLECTIONS or kind_name not in KINDS:
        raise HTTPException(
            404,
            detail=f"no bulk file {name!r}: use <units>.<kind> with units in {', '.join(COLLECTIONS)} and kind in "
            f"{', '.join(KINDS)}",
        )
    view = await view_as_of(request, as_of)
    sees_small = sees_small_areas(principal)
    fmt = "csv" if kind_name.endswith("csv") else "json"
    kind = KINDS[kind_name]
    key = f"bulk:{units}:{kind}:{fmt}:{'a' if sees_small else 'p'}"
    body = await run_in_threadpool(
        view.cached,
        key,
        lambda: gzip.compress(build(request, view, COLLECTIONS[units], kind, fmt, sees_small), 6, mtime=0),
    )
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    headers = {
        "ETag": f'W/"{view.etag.strip(chr(34))}-{units}-{kind_name}-{"a" if sees_small else "p"}"',
        "Content-Disposition": f'inline; filename="riskmap-{units}{"" if kind == "current" else ".timeseries"}.{fmt}"',
        "Cache-Control": "public, max-age=60" if not sees_small else "private, max-age=60",
    }
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(body, media_type=media, headers={**headers, "Content-Encoding": "gzip"})
    return Response(gzip.decompress(body), media_type=media, headers=headers)
