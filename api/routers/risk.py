"""The risk-level endpoint: which level applies at a place, from which unit, why.

Other apps (the national COVID app, city portals) ask by coordinates, H3 cell, address or (authorised
roles) household token; `POST /v1/risk` answers up to 10,000 points at once. Answers are prepared per
snapshot and serialised once (`SnapshotView.answer_bytes`); a request adds only its query.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.answers import splice
from api.deps import (
    AREA_TYPES,
    AreaType,
    AsOfQuery,
    HouseholdViewer,
    RiskViewer,
    check_permission,
    direct_authentication,
    principal_of,
    view_as_of,
)
from api.hotpath import hot
from api.privacy import TokenError, household_tokens, sees_small_areas
from api.security import (
    VIEW_HOUSEHOLDS,
    VIEW_PERSONAL,
    VIEW_RISK,
    CurrentPrincipal,
    Principal,
    declares,
)
from api.snapshot import SnapshotView
from geo import h3cells

router = APIRouter(prefix="/v1", tags=["risk"])

MAX_BATCH = 10_000
JSON = "application/json"

EXAMPLE = {
    "level": 2,
    "known": True,
    "suppressed": False,
    "label": {"vi": "Cấp 2 – Nguy cơ trung bình (vàng)", "en": "Level 2 – medium (yellow)"},
    "colour": "#f2c200",
    "unit": {
        "type": "ward",
        "id": "hcmc-2025:26740",
        "code": "26740",
        "name": "Phường Sài Gòn",
        "parent_id": "hcmc-2025:79",
    },
    "profile": {"id": "moh-4800", "version": "2021-10-12.1", "title": "MoH Decision 4800/QĐ-BYT"},
    "as_of": "2021-10-24T23:59:59+00:00",
    "snapshot_id": 3,
    "reasons": {
        "vi": ["C1: 72.6 ca mắc mới trong cộng đồng/100.000 dân/7 ngày (mức 3)"],
        "en": ["C1: 72.6 new community cases per 100,000 in 7 days (band 3)"],
    },
    "reason_codes": [
        {"step": "C1", "metric": "community_cases_per_100k_7d", "value": 72.6, "effect": 3, "applied": True}
    ],
    "metrics": {"population": 9145000, "community_cases_per_100k_7d": 72.6},
    "pending": {
        "level": 3,
        "label": {"vi": "Cấp 3 – Nguy cơ cao (cam)", "en": "Level 3 – high (orange)"},
        "colour": "#f07d00",
        "effective_at": "2021-10-27T00:00:00+00:00",
    },
    "query": {"lat": 10.776, "lon": 106.7},
}
SUPPRESSED_EXAMPLE = {
    **EXAMPLE,
    "level": None,
    "known": False,
    "suppressed": True,
    "label": {"vi": "Không hiển thị (dưới 10 hộ gia đình)", "en": "Suppressed (fewer than 10 households)"},
    "colour": "#bdbdbd",
    "unit": {
        "type": "h3_10",
        "id": "8a65b56628d7fff",
        "code": None,
        "name": None,
        "parent_id": "8965b56628fffff",
    },
    "metrics": {},
    "pending": None,
    "query": {"h3": "8a65b56628d7fff"},
}
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "level",
        "known",
        "suppressed",
        "label",
        "colour",
        "unit",
        "profile",
        "as_of",
        "snapshot_id",
    ],
    "properties": {
        "level": {"type": ["integer", "null"], "description": "1–4; 0 unknown; null when suppressed"},
        "known": {"type": "boolean"},
        "suppressed": {"type": "boolean"},
        "label": {"type": "object", "properties": {"vi": {"type": "string"}, "en": {"type": "string"}}},
        "colour": {"type": "string"},
        "unit": {"type": "object"},
        "profile": {"type": "object"},
        "as_of": {"type": "string"},
        "snapshot_id": {"type": "integer"},
        "reasons": {"type": "object"},
        "reason_codes": {"type": "array"},
        "metrics": {"type": "object"},
        "pending": {"type": ["object", "null"]},
        "query": {"type": "object"},
    },
}
ANSWER_RESPONSE = {
    "description": "the level and why",
    "content": {
        JSON: {
            "schema": ANSWER_SCHEMA,
            "examples": {
                "ward": {"summary": "a ward's level", "value": EXAMPLE},
                "suppressed": {"summary": "a cell below k households (public)", "value": SUPPRESSED_EXAMPLE},
            },
        }
    },
}


def _param(name: str, schema: dict[str, Any], description: str, example: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }
    if example is not None:
        out["example"] = example
    return out


RISK_PARAMETERS = [
    _param("lat", {"type": "number", "minimum": -90, "maximum": 90}, "latitude (WGS84)", 10.776),
    _param("lon", {"type": "number", "minimum": -180, "maximum": 180}, "longitude (WGS84)", 106.70),
    _param("h3", {"type": "string", "maxLength": 20}, "H3 cell (hex)", "8965b56628fffff"),
    _param(
        "address",
        {"type": "string", "minLength": 1, "maxLength": 500},
        "an address as written",
        "14/12 Kỳ Đồng, P.9, Q.3",
    ),
    _param(
        "household",
        {"type": "string", "maxLength": 34},
        "household token (roles with household access)",
        "h_3c60f4d950f97c3080dabfbcf6111973",
    ),
    _param(
        "unit",
        {"type": "string", "enum": list(AREA_TYPES), "default": "ward"},
        "unit whose level answers for a point or an address",
        "ward",
    ),
    _param(
        "as_of",
        {"type": "string", "format": "date"},
        "answer from the last snapshot on or before this day",
        "2021-10-24",
    ),
]
_KNOWN = {p["name"] for p in RISK_PARAMETERS}


def _bad(message: str) -> HTTPException:
    return HTTPException(422, detail=message)


def _number(text: str | None, name: str, bound: float) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise _bad(f"{name} must be a number, not {text[:40]!r}") from None
    if not -bound <= value <= bound:  # also refuses NaN
        raise _bad(f"{name} must lie between -{bound:g} and {bound:g}")
    return value


def _text(text: str | None, name: str, longest: int) -> str | None:
    if text is not None and not 0 < len(text) <= longest:
        raise _bad(f"{name} must have 1 to {longest} characters")
    return text


def _query(request: Request) -> dict[str, str]:
    """Query parameters; plain ASCII queries (coordinates) split by hand, the rest as Starlette decodes."""
    raw: bytes = request.scope.get("query_string", b"")
    if b"%" in raw or b"+" in raw or not raw.isascii():
        return dict(request.query_params)
    out = {}
    for part in raw.decode("ascii").split("&"):
        if part:
            key, _, value = part.partition("=")
            out[key] = value
    return out


def _coordinates(raw: bytes) -> tuple[str, str] | None:
    """The texts of `lat` and `lon` when the query is exactly those two (either order) and `_query` would
    split it by hand: most calls. None sends the query to the general reading."""
    text = raw.decode("latin-1")  # str operations: several times cheaper than bytes' here
    if not text.isascii() or "%" in text or "+" in text:
        return None
    if text.startswith("lat="):
        first, sep, second = text[4:].partition("&lon=")
    elif text.startswith("lon="):
        second, sep, first = text[4:].partition("&lat=")
    else:
        return None
    if not sep or "&" in first or "&" in second:
        return None
    return first, second


def _risk_params(request: Request) -> tuple[Any, ...]:
    coords = _coordinates(request.scope.get("query_string", b""))
    if coords is not None:
        return _number(coords[0], "lat", 90), _number(coords[1], "lon", 180), None, None, None, "ward", None
    q = _query(request)
    lat = _number(q.get("lat"), "lat", 90)
    lon = _number(q.get("lon"), "lon", 180)
    h3 = _text(q.get("h3"), "h3", 20)
    address = _text(q.get("address"), "address", 500)
    household = _text(q.get("household"), "household", 34)
    unit = q.get("unit", "ward")
    if unit not in AREA_TYPES:
        raise _bad(f"unit must be one of {', '.join(AREA_TYPES)}")
    as_of = q.get("as_of")
    day = None
    if as_of is not None:
        try:
            day = dt.date.fromisoformat(as_of)
        except ValueError:
            raise _bad(f"as_of must be an ISO date (YYYY-MM-DD), not {as_of[:40]!r}") from None
    return lat, lon, h3, address, household, unit, day


class _Answer(Response):
    """A JSON answer with header lines built once per snapshot and audience (`_answer_headers`): on the hot
    path Starlette's header building (encode, lower-case, check each name) cost as much as the lookup."""

    media_type = JSON

    def __init__(self, body: bytes, headers: tuple[tuple[bytes, bytes], ...]) -> None:
        self.status_code, self.background, self.body = 200, None, body
        # the length first: the gzip middleware looks for it to pass small answers straight through
        self.raw_headers = [(b"content-length", b"%d" % len(body)), *headers]


@functools.lru_cache(maxsize=64)
def _answer_headers(etag: str, public: bool) -> tuple[tuple[bytes, bytes], ...]:
    return (
        (b"content-type", JSON.encode()),
        (b"etag", etag.encode()),
        (b"cache-control", b"public, max-age=60" if public else b"private, max-age=60"),
        (b"vary", b"Authorization"),
    )


def _respond(body: bytes, view: SnapshotView, public: bool) -> Response:
    return _Answer(body, _answer_headers(view.etag, public))


def _answer_or_404(
    view: SnapshotView, unit_type: str, unit_id: str | None, sees_small: bool, where: Callable[[], str]
) -> bytes:
    if unit_id is None:  # `where` is only formatted for this error: floats cost a microsecond each
        raise HTTPException(404, detail=f"{where()} is outside every {unit_type} of the covered area")
    body = view.answer_bytes(unit_type, unit_id, sees_small)
    if body is None:
        raise HTTPException(404, detail=f"no level for {unit_type} {unit_id} in snapshot {view.snapshot_id}")
    return body


def _cell_unit(text: str) -> tuple[str, str]:
    """A hex H3 cell → the scored cell it answers from (cells finer than resolution 10: their parent)."""
    try:
        cell = h3cells.from_hex(text)
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    res = h3cells.resolution(cell)
    if res < 8:
        raise HTTPException(
            404, detail=f"riskmap scores H3 cells of resolutions 8–10; {text} is resolution {res}"
        )
    if res > 10:
        cell = int(h3cells.parents(np.array([cell], dtype=np.uint64), 10)[0])
        res = 10
    return f"h3_{res}", format(cell, "x")


RISK_ROUTE: dict[str, Any] = dict(
    summary="Risk level at a place: coordinates, H3 cell, address or household",
    description=(
        "Give exactly one of: `lat` and `lon`; `h3` (a hex cell id; finer cells answer from their "
        "resolution-10 parent); `address` (as written, geocoded on the address registry); `household` (an "
        "opaque household token; roles with household access, within their area). `unit` picks the unit "
        "whose level answers for coordinates and addresses: the ward by default (the official MoH level), or "
        "the city, the neighbourhood group, an H3 cell of resolution 8–10. Level 0 is unknown (not enough "
        "data); groups and cells with fewer than k households are suppressed for the public (level null)."
    ),
    responses={
        200: ANSWER_RESPONSE,
        401: {"description": "a household was asked for without credentials"},
        403: {
            "description": "the household lies outside the caller's area, or the role may not see households"
        },
        404: {"description": "the place is outside the covered area, or the unit has no level"},
        422: {"description": "not exactly one way of giving the place, or a malformed value"},
    },
    openapi_extra={"parameters": RISK_PARAMETERS},
)


@hot
@declares(VIEW_RISK)
async def risk_at(request: Request) -> Response:
    # The hot path: parameters are read by hand (documented in RISK_PARAMETERS) rather than through
    # FastAPI's per-parameter validation, and the caller is resolved and checked here rather than by
    # `require(VIEW_RISK)` dependencies: each level of dependency solving cost as much as the answer.
    # (Should `authenticate` grow dependencies of its own, `risk_at_checked` below takes over.)
    return await _risk(request, await principal_of(request))


@declares(VIEW_RISK)
async def risk_at_checked(request: Request, principal: CurrentPrincipal) -> Response:
    return await _risk(request, principal)


router.add_api_route(
    "/risk",
    risk_at if direct_authentication() else risk_at_checked,
    methods=["GET"],
    response_class=Response,
    **RISK_ROUTE,
)


async def _risk(request: Request, principal: Principal) -> Response:
    check_permission(principal, VIEW_RISK)
    lat, lon, h3, address, household, unit, as_of = _risk_params(request)
    if (lat is None) != (lon is None):
        raise HTTPException(422, detail="give both lat and lon")
    if (lat is not None) + (h3 is not None) + (address is not None) + (household is not None) != 1:
        raise HTTPException(422, detail="give exactly one of lat/lon, h3, address or household")
    view = request.app.state.snapshots.view if as_of is None else await view_as_of(request, as_of)
    if view is None:
        raise HTTPException(503, detail="no risk snapshot has been published yet; run `riskmap score`")
    sees_small = sees_small_areas(principal)
    public = not sees_small
    if lat is not None and lon is not None:
        uid = view.map.unit_at(unit, lon, lat)
        body = _answer_or_404(view, unit, uid, sees_small, lambda: f"point (lat {lat}, lon {lon})")
        return _respond(splice(body, b"query", orjson.dumps({"lat": lat, "lon": lon})), view, public)
    if h3 is not None:
        unit_type, cell = _cell_unit(h3)
        body = _answer_or_404(view, unit_type, cell, sees_small, lambda: f"cell {h3}")
        return _respond(splice(body, b"query", orjson.dumps({"h3": h3})), view, public)
    if address is not None:
        return await _by_address(request, view, address, unit, sees_small)
    assert household is not None
    return await _by_household(request, view, principal, household)


async def _by_address(
    request: Request, view: SnapshotView, address: str, unit: str, sees_small: bool
) -> Response:
    from api.routers.geocode import _geocoder

    geocoder = await _geocoder(request)
    try:
        found = await run_in_threadpool(geocoder.geocode_one, address, None)
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    lon, lat, ward = found.get("lon"), found.get("lat"), found.get("ward_id")
    if unit == "ward" and ward:
        uid: str | None = str(ward)
    elif lon is not None and lat is not None and np.isfinite(lon) and np.isfinite(lat):
        uid = view.map.unit_at(unit, float(lon), float(lat))
    else:
        uid = None
    if uid is None:
        raise HTTPException(404, detail=f"address {address!r} could not be placed ({found.get('tier')})")
    body = _answer_or_404(view, unit, uid, sees_small, lambda: f"address {address!r}")
    geocode = {k: found.get(k) for k in ("tier", "confidence", "normal", "ward_id", "flags")}
    query = {"address": address, "geocode": geocode}
    return _respond(splice(body, b"query", orjson.dumps(query, default=str)), view, not sees_small)


def _household_access(principal: Principal) -> None:
    check_permission(principal, VIEW_HOUSEHOLDS)


async def _by_household(request: Request, view: SnapshotView, principal: Principal, token: str) -> Response:
    _household_access(principal)
    try:
        hid = household_tokens().household_id(token)
    except TokenError as exc:
        raise HTTPException(404, detail=f"no household {token!r}: {exc}") from None
    row = await run_in_threadpool(view.household_row, hid)
    if row is None:
        raise HTTPException(404, detail=f"no household {token!r} in snapshot {view.snapshot_id}")
    if not principal.sees(row.get("ward_id"), row.get("group_id")):
        raise HTTPException(403, detail=f"household {token!r} lies outside your area")
    return _respond(orjson.dumps(await household_answer(view, principal, hid, token, row)), view, False)


async def household_answer(
    view: SnapshotView, principal: Principal, hid: int, token: str, row: dict[str, Any]
) -> dict[str, Any]:
    from api.answers import answer

    hp = (view.info.stats.get("profiles") or {}).get("household") or {}
    bits = row.get("reasons")
    a = answer(
        {**row, "unit_type": "household", "profile": hp.get("id"), "profile_version": hp.get("version")},
        view.info,
        view.profile,
        unit_id=token,
    )
    household_details(a, row, hp.get("id"), bits)
    a["unit"].update(
        {"ward_id": row.get("ward_id"), "group_id": row.get("group_id"), "parent_id": row.get("group_id")}
    )
    a["unit"]["name"] = None
    if principal.can(VIEW_PERSONAL):
        found = await run_in_threadpool(
            view.store.read_table, "households", columns=["address"], filters=[("household_id", "=", hid)]
        )
        a["unit"]["address"] = (
            str(found["address"].iloc[0])
            if len(found) and isinstance(found["address"].iloc[0], str)
            else None
        )
    a["query"] = {"household": token}
    return a


def household_details(a: dict[str, Any], row: dict[str, Any], profile_id: str | None, bits: Any) -> None:
    """Reasons, flags and metrics of a typed `household_levels` row (reasons are a bit mask of the
    household profile's steps) put into an answer."""
    from api.answers import profile_or_none
    from risk.store.tables import HOUSEHOLD_FLAGS

    profile = profile_or_none(profile_id or "riskmap-household")
    if profile is not None and isinstance(bits, int | np.integer):
        a["reasons"] = {
            "vi": profile.explain_bits(int(bits), "vi"),
            "en": profile.explain_bits(int(bits), "en"),
        }
    a["flags"] = [
        c for col, c in HOUSEHOLD_FLAGS.items() if isinstance(row.get(col), bool | np.bool_) and row[col]
    ]
    a["metrics"] = {
        k: int(v)
        for k, v in row.items()
        if k not in ("snapshot_id", "household_id", "level", "reasons", "h3_9", "h3_10")
        and not k.startswith("flag_")
        and isinstance(v, int | np.integer)
    }
    p = row.get("model_probability")  # the model's step is explained by its probability
    if isinstance(p, float | np.floating) and np.isfinite(p):
        a["metrics"]["model_probability"] = round(float(p), 4)


# --- batch -------------------------------------------------------------------------------------------


class BatchPoint(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    ref: str | None = Field(None, max_length=200, description="the caller's own reference, echoed back")


class BatchRequest(BaseModel):
    points: list[BatchPoint] = Field(..., min_length=1, max_length=MAX_BATCH)
    unit: AreaType = "ward"
    as_of: dt.date | None = Field(None, description="answer from the last snapshot on or before this day")

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "points": [{"lat": 10.776, "lon": 106.70, "ref": "a"}, {"lat": 10.79, "lon": 106.68}],
                    "unit": "ward",
                }
            ]
        }
    }


@router.post(
    "/risk",
    summary=f"Risk levels of up to {MAX_BATCH:,} points",
    description="One result per point, in order: the answer of `GET /v1/risk` (with `query` holding the "
    "point and its `ref`), or `{query, error}` for a point outside the covered area.",
    responses={
        200: {
            "description": "results in the order of the points",
            "content": {
                JSON: {
                    "example": {
                        "snapshot_id": 3,
                        "as_of": "2021-10-24T23:59:59+00:00",
                        "count": 2,
                        "results": [
                            {**EXAMPLE, "query": {"lat": 10.776, "lon": 106.7, "ref": "a"}},
                            {
                                "query": {"lat": 21.03, "lon": 105.85, "ref": None},
                                "error": "outside every ward",
                            },
                        ],
                    }
                }
            },
        }
    },
)
async def risk_batch(request: Request, principal: RiskViewer, body: BatchRequest) -> Response:
    view = await view_as_of(request, body.as_of)
    sees_small = sees_small_areas(principal)
    lat = np.fromiter((p.lat for p in body.points), dtype=np.float64, count=len(body.points))
    lon = np.fromiter((p.lon for p in body.points), dtype=np.float64, count=len(body.points))
    units = await run_in_threadpool(view.map.units_at, body.unit, lon, lat)
    parts = []
    missing = f"outside every {body.unit}".encode()
    for p, uid in zip(body.points, units, strict=True):
        query = orjson.dumps({"lat": p.lat, "lon": p.lon, "ref": p.ref})
        answer = view.answer_bytes(body.unit, uid, sees_small) if uid is not None else None
        if answer is None:
            why = missing if uid is None else f"no level for {body.unit} {uid}".encode()
            parts.append(b'{"query":' + query + b',"error":' + orjson.dumps(why.decode()) + b"}")
        else:
            parts.append(splice(answer, b"query", query))
    head = orjson.dumps(
        {"snapshot_id": view.snapshot_id, "as_of": view.info.as_of.isoformat(), "count": len(parts)}
    )
    out = head[:-1] + b',"results":[' + b",".join(parts) + b"]}"
    return Response(out, media_type=JSON, headers={"ETag": view.etag, "Vary": "Authorization"})


# --- households near a point (the map's click on a household dot) ---------------------------------------


@router.get(
    "/households/near",
    summary="Households near a point (authorised roles, within their area)",
    description="The households within `radius` metres of a point, nearest first, with their level, flags "
    "and opaque token (tiles carry no household identifiers: a click on a dot asks here).",
    responses={401: {"description": "no credentials"}, 403: {"description": "role without household access"}},
)
async def households_near(
    request: Request,
    principal: HouseholdViewer,
    lat: Annotated[float, Query(ge=-90, le=90, examples=[10.776])],
    lon: Annotated[float, Query(ge=-180, le=180, examples=[106.70])],
    radius: Annotated[float, Query(gt=0, le=500, description="metres")] = 30,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    as_of: AsOfQuery = None,
) -> Response:
    view = await view_as_of(request, as_of)
    points = await run_in_threadpool(view.household_points)
    pos = points.near(lon, lat, radius, 10 * limit)
    scope = principal.view_scope()
    pos = pos[points.in_scope(pos, scope)][:limit]
    hh = await run_in_threadpool(view.household_levels)
    at = hh.lookup(points.ids[pos])
    tokens = household_tokens()
    out = []
    for p, j in zip(pos, at, strict=True):
        level = int(hh.level[j]) if j >= 0 and hh.level[j] >= 0 else None
        flags = hh.flags[j] if j >= 0 else None
        out.append(
            {
                "household": tokens.token(int(points.ids[p])),
                "level": level,
                "colour": view.colour(level) if level is not None else view.colour(0),
                "flags": [f for f in (flags or "").split(";") if f],
                "ward_id": points.ward_ids[p],
                "group_id": points.group_ids[p],
                "lat": round(float(points.lat[p]), 6),
                "lon": round(float(points.lon[p]), 6),
            }
        )
    body = {
        "snapshot_id": view.snapshot_id,
        "count": len(out),
        "households": out,
        "query": {"lat": lat, "lon": lon, "radius": radius},
    }
    return Response(orjson.dumps(body), media_type=JSON, headers={"Cache-Control": "private, no-store"})


__all__ = ["AREA_TYPES", "router"]
