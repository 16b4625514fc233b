"""Geocoding over HTTP: one address (GET) or a batch (POST) → address point, ward, tier, confidence, flags.

The geocoder is built from the store's address registry on the first request (it holds the registry's
indexes in memory) and rebuilt when the registry's size changes. Answers are the same as
`riskmap geocode` gives for a file.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.security import GEOCODE, require
from geo.geocode import OUTPUT_COLUMNS, Geocoder, default_wards, load_registry

router = APIRouter(prefix="/v1", tags=["geocode"], dependencies=[Depends(require(GEOCODE))])

MAX_BATCH = 10_000
RECHECK_SECONDS = 60.0  # how often the registry's size is compared with the one the geocoder was built on

EXAMPLE = {
    "point_id": 212,
    "ward_id": "hcmc-2025:27139",
    "group_id": "27139-KP03-T05",
    "lon": 106.6862,
    "lat": 10.7812,
    "tier": "exact",
    "confidence": 0.98,
    "match_key": "hcmc-2025:27139|ky dong|14|12",
    "flags": "old_ward",
    "candidates": "",
    "normal": "14/12 Đường Kỳ Đồng, Khu phố 3, Phường Xuân Hòa, Thành phố Hồ Chí Minh",
    "query": {"address": "14/12 Kỳ Đồng, P.9, Q.3, TP.HCM", "date": "2021-08-15"},
}


class _Holder:
    """The app's geocoder, built once and shared by requests (building takes seconds: never twice)."""

    def __init__(self) -> None:
        self.geocoder: Geocoder | None = None
        self.rows = -1
        self.checked = 0.0
        self.lock = threading.Lock()

    def get(self, store: object) -> Geocoder:
        now = time.monotonic()
        if self.geocoder is not None and now - self.checked < RECHECK_SECONDS:
            return self.geocoder
        with self.lock:
            rows = store.count("address_points")  # type: ignore[attr-defined]
            self.checked = now
            if self.geocoder is None or rows != self.rows:
                if rows == 0:
                    raise HTTPException(503, detail="no address points in the store: load a registry first")
                self.geocoder = Geocoder(load_registry(store), wards=default_wards())
                self.rows = rows
            return self.geocoder


def _holder(request: Request) -> _Holder:
    holder = getattr(request.app.state, "geocoder_holder", None)
    if holder is None:
        holder = request.app.state.geocoder_holder = _Holder()
    return holder


async def _geocoder(request: Request) -> Geocoder:
    holder = _holder(request)
    if holder.geocoder is not None and time.monotonic() - holder.checked < RECHECK_SECONDS:
        return holder.geocoder
    return await run_in_threadpool(holder.get, request.app.state.store)


class BatchRequest(BaseModel):
    addresses: list[str] = Field(..., max_length=MAX_BATCH, description="addresses as written")
    dates: list[str | None] | None = Field(
        None,
        description="the records' dates (ISO or day-first), same length: old names are read in the "
        "geography of each date",
    )


@router.get(
    "/geocode",
    summary="Geocode one address",
    description="Place one address on the address registry: point, 2025 ward, neighbourhood group, "
    "coordinates, the tier that found it (exact, fuzzy, nearest_number, group_centroid, ward_centroid, "
    "unmatched), a confidence and flags (old_ward, split, ambiguous_split, ward_contradiction, …).",
    responses={200: {"content": {"application/json": {"example": EXAMPLE}}}},
)
async def geocode_one(
    request: Request,
    address: Annotated[str, Query(max_length=1000, description="the address as written")],
    date: Annotated[str | None, Query(description="the record's date (old ward names)")] = None,
) -> Response:
    geocoder = await _geocoder(request)
    try:
        result = geocoder.geocode_one(address, date)
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    result["query"] = {"address": address, "date": date}
    return Response(orjson.dumps(result), media_type="application/json")


@router.post(
    "/geocode",
    summary="Geocode a batch of addresses",
    description=f"Up to {MAX_BATCH:,} addresses per request; one result per address, in order.",
)
async def geocode_batch(request: Request, body: BatchRequest) -> Response:
    import pandas as pd

    if body.dates is not None and len(body.dates) != len(body.addresses):
        raise HTTPException(422, detail="dates must have one entry per address")
    geocoder = await _geocoder(request)
    texts = pd.Series(body.addresses, dtype=object)
    dates = (
        pd.to_datetime(pd.Series(body.dates, dtype=object), dayfirst=True, errors="coerce", format="mixed")
        if body.dates is not None
        else None
    )
    out = await run_in_threadpool(geocoder.geocode, texts, dates)
    records = out[OUTPUT_COLUMNS].astype(object).where(out[OUTPUT_COLUMNS].notna(), None).to_dict("records")
    await asyncio.sleep(0)
    return Response(orjson.dumps({"results": records, "count": len(records)}), media_type="application/json")
