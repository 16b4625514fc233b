"""Ward leaders' household lists (XLSX, CSV) and the printable ward map, for the caller's own area.

`GET /v1/exports/households.xlsx|.csv?ward=…&group=…&level=3,4&flag=f0,support&as_of=…` and
`GET /v1/exports/households/map.png` (same filters). A ward outside the caller's view scope is a 403;
rows outside it never leave. Each export is written to the audit log by `require` (who, when, the
filter in the URL, the status) with the filter and the row count added by the route (`audit_detail`).
Filter and scope are checked before the response starts (422/404/403); the list is then built inside the
response, so its headers leave at once: the XLSX is written in constant memory to a temporary file and
streamed from it, the CSV streams group by group as it is formatted.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.deps import AsOfQuery, view_as_of
from api.householdlist import (
    FLAG_LABELS,
    ListError,
    ListFilter,
    WardList,
    check_ward,
    iter_csv,
    ward_list,
    write_xlsx,
)
from api.security import VIEW_HOUSEHOLDS, Principal, require
from api.snapshot import SnapshotView

router = APIRouter(prefix="/v1/exports", tags=["exports"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CHUNK = 1 << 16

Ward = Annotated[str, Query(max_length=100, description="the ward (id)", examples=["hcmc-2025:26740"])]
Groups = Annotated[
    list[str] | None, Query(max_length=200, description="neighbourhood group id(s); repeat or comma-separate")
]
Levels = Annotated[str | None, Query(max_length=20, description="household levels to keep", examples=["3,4"])]
Flags = Annotated[
    str | None,
    Query(max_length=200, description=f"keep households with any of these flags: {', '.join(FLAG_LABELS)}"),
]
RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "the ward lies outside your area, or your role may not see households"},
    404: {"description": "no such ward, or no snapshot on or before as_of"},
    422: {"description": "an unknown flag or a level outside 0–4"},
}


def _split(values: list[str] | str | None) -> tuple[str, ...]:
    if not values:
        return ()
    items = values if isinstance(values, list) else [values]
    return tuple(v.strip() for item in items for v in item.split(",") if v.strip())


async def _check(
    request: Request, principal: Principal, ward: str, group: Any, level: Any, flag: Any, as_of: Any, fmt: str
) -> tuple[ListFilter, SnapshotView, dict[str, Any]]:
    """Validate the filter and the caller's right to the ward (403/404/422 before any heavy work); the
    audit entry's detail is filled in as the export runs."""
    try:
        levels = tuple(int(v) for v in _split(level))
    except ValueError:
        raise HTTPException(422, detail=f"level {level!r}: give whole numbers, e.g. 3,4") from None
    try:
        flt = ListFilter(ward, _split(group), levels, _split(flag), as_of)
    except ListError as exc:
        raise HTTPException(422, detail=str(exc)) from None
    detail: dict[str, Any] = {"filter": flt.describe(), "format": fmt, "rows": 0}
    request.state.audit_detail = detail
    view = await view_as_of(request, as_of)
    try:
        await run_in_threadpool(check_ward, request.app.state.store, view, principal, flt)
    except PermissionError as exc:
        raise HTTPException(403, detail=str(exc)) from None
    except LookupError as exc:
        raise HTTPException(404, detail=str(exc)) from None
    detail["snapshot_id"] = view.snapshot_id
    return flt, view, detail


def _build(
    request: Request, view: SnapshotView, principal: Principal, flt: ListFilter, detail: dict
) -> WardList:
    wl = ward_list(request.app.state.store, view, principal, flt)
    detail["rows"] = wl.count
    return wl


def _filename(flt: ListFilter, view: SnapshotView, ext: str) -> dict[str, str]:
    name = f"danh-sach-ho_{flt.ward_id.replace(':', '-')}_{view.info.as_of.date().isoformat()}.{ext}"
    return {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}", "Cache-Control": "no-store"}


def _stream_file(path: str) -> Iterator[bytes]:
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk
    finally:
        os.unlink(path)


def _xlsx_body(
    request: Request, view: SnapshotView, principal: Principal, flt: ListFilter, detail: dict
) -> Iterator[bytes]:
    """Built inside the response: the headers leave at once, the workbook when it is complete."""
    wl = _build(request, view, principal, flt, detail)
    fd, path = tempfile.mkstemp(prefix="riskmap-list-", suffix=".xlsx")
    os.close(fd)
    try:
        write_xlsx(wl, path)
    except BaseException:
        os.unlink(path)
        raise
    yield from _stream_file(path)


def _csv_body(
    request: Request, view: SnapshotView, principal: Principal, flt: ListFilter, detail: dict
) -> Iterator[bytes]:
    yield from iter_csv(_build(request, view, principal, flt, detail))


@router.get(
    "/households.xlsx",
    summary="A ward's household list as XLSX (one sheet per neighbourhood group + summary)",
    response_class=Response,
    responses={200: {"content": {XLSX: {"schema": {"type": "string", "format": "binary"}}}}, **RESPONSES},
)
async def households_xlsx(
    request: Request,
    ward: Ward,
    principal: Annotated[Principal, Depends(require(VIEW_HOUSEHOLDS, audit="export.households"))],
    group: Groups = None,
    level: Levels = None,
    flag: Flags = None,
    as_of: AsOfQuery = None,
) -> StreamingResponse:
    flt, view, detail = await _check(request, principal, ward, group, level, flag, as_of, "xlsx")
    body = _xlsx_body(request, view, principal, flt, detail)
    return StreamingResponse(body, media_type=XLSX, headers=_filename(flt, view, "xlsx"))


@router.get(
    "/households.csv",
    summary="A ward's household list as CSV (UTF-8 with BOM, formulas neutralised)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}, **RESPONSES},
)
async def households_csv(
    request: Request,
    ward: Ward,
    principal: Annotated[Principal, Depends(require(VIEW_HOUSEHOLDS, audit="export.households"))],
    group: Groups = None,
    level: Levels = None,
    flag: Flags = None,
    as_of: AsOfQuery = None,
) -> StreamingResponse:
    flt, view, detail = await _check(request, principal, ward, group, level, flag, as_of, "csv")
    body = _csv_body(request, view, principal, flt, detail)
    return StreamingResponse(body, media_type="text/csv; charset=utf-8", headers=_filename(flt, view, "csv"))


@router.get(
    "/households/map.png",
    summary="Printable map of a ward: its neighbourhood groups and the listed flagged households, numbered",
    description="The numbers are the `STT` of the household list with the same filters.",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}},
        **RESPONSES,
    },
)
async def ward_map(
    request: Request,
    ward: Ward,
    principal: Annotated[Principal, Depends(require(VIEW_HOUSEHOLDS, audit="export.ward_map"))],
    group: Groups = None,
    level: Levels = None,
    flag: Flags = None,
    as_of: AsOfQuery = None,
) -> Response:
    from api.wardmap import render_ward_map

    flt, view, detail = await _check(request, principal, ward, group, level, flag, as_of, "png")
    wl = await run_in_threadpool(_build, request, view, principal, flt, detail)
    png = await run_in_threadpool(render_ward_map, wl)
    return Response(png, media_type="image/png", headers=_filename(flt, view, "png"))
