"""Authenticated batch ingest over HTTP: a site sends one feed file (the raw bytes as the request body);
it is ingested exactly as `riskmap ingest` would (atomic, idempotent by content, every row accounted
for), restricted to the caller's capture scope: a row whose address lies in a ward outside it is
quarantined (`outside_capture_scope`), never loaded and never lost. The answer is the batch's account
and quality report; the new batch is then linked incrementally.

    POST /v1/ingest/{source}?filename=2021-W35.csv      (body: the file; needs capture:records)
    GET  /v1/ingest/batches/{batch_id}                  (the batch's quality report)
"""

from __future__ import annotations

import re
import tempfile
import threading
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from api.deps import StoreDep
from api.security import CAPTURE, VIEW_PERSONAL, Principal, require
from risk.ingest.errors import IngestError
from risk.ingest.pipeline import Ingestor
from risk.ingest.quality import batch_report
from risk.ingest.sources import load_sources

router = APIRouter(prefix="/v1/ingest", tags=["ingest"])
MAX_BYTES = 200 * 1024 * 1024
_SAFE_NAME = re.compile(r"^[\w.\- ]{1,120}$")
_LOCK = threading.Lock()  # one ingest at a time per process: the placer and its caches are shared

Capturer = Annotated[Principal, Depends(require(CAPTURE))]


def _placer(request: Request, store: Any) -> Any:
    from risk.ingest.place import RegistryPlacer

    placer = getattr(request.app.state, "ingest_placer", None)
    if placer is None:
        placer = request.app.state.ingest_placer = RegistryPlacer.from_store(store)
    return placer


def _for(principal: Principal, report: dict[str, Any]) -> dict[str, Any]:
    """A quality report as the caller may see it: the examples of bad and corrected rows carry raw
    personal values, so a caller without personal-data access gets how many there are, not the values
    (the quarantine itself, with its rows, is read through `riskmap quarantine`)."""
    if principal.can(VIEW_PERSONAL) or not report.get("examples"):
        return report
    return {**report, "examples": {code: len(rows) for code, rows in report["examples"].items()}}


def _run(store: Any, placer: Any, path: Path, source: str, scope: set[str] | None) -> dict:
    from risk.link import link_new

    with _LOCK:
        result = Ingestor(store, placer=placer, capture_scope=scope).ingest(path, source)
        linked = link_new(store).summary() if result.new else None
    report = batch_report(store, result.batch)
    return {"new": result.new, "account": result.as_dict(), "report": report, "linked": linked}


REPORT_EXAMPLE = {
    "batch_id": 12,
    "source": "tiem-chung-hcdc",
    "kind": "dose",
    "file": "2021-W42.csv",
    "committed_at": "2021-10-24T10:02:11+00:00",
    "account": {"rows_in": 1000, "accepted": 951, "corrected": 31, "quarantined": 12, "duplicates": 6},
    "balanced": True,
    "quarantine_reasons": [
        {
            "code": "date_future",
            "count": 5,
            "severity": "bad",
            "en": "date in the future",
            "vi": "ngày ở tương lai",
        }
    ],
    "corrections": [
        {
            "code": "phone_old_prefix",
            "count": 31,
            "severity": "corrected",
            "en": "old 11-digit mobile prefix mapped",
            "vi": "đầu số di động cũ 11 số đã đổi",
        }
    ],
    "placed": {"exact": 940, "fuzzy": 30, "ward_centroid": 11},
    "examples": {"id_checksum": 3, "date_future": 3},
}


@router.post(
    "/{source}",
    summary="Ingest one feed file of a source (raw bytes as the body)",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "new": True,
                        "account": {
                            "file": "2021-W42.csv",
                            "source": "tiem-chung-hcdc",
                            "new": True,
                            "batch_id": 12,
                            **REPORT_EXAMPLE["account"],
                        },
                        "report": REPORT_EXAMPLE,
                        "linked": "incremental link: 0 households, 0 persons; 975/982 event records linked "
                        "(99.3%): exact_id 901, probabilistic 74; 3 for review; 4 new persons outside the "
                        "registry; 0 duplicate doses merged",
                    }
                }
            }
        },
        422: {"description": "unknown layout, unreadable file, or a file in a legacy encoding"},
    },
)
async def ingest(
    source: str,
    request: Request,
    principal: Capturer,
    store: StoreDep,
    filename: Annotated[str, Query(description="the file's name (its extension gives the format)")],
) -> dict[str, Any]:
    if source not in load_sources():
        raise HTTPException(404, detail=f"unknown source {source!r}")
    if not _SAFE_NAME.match(filename) or filename.startswith("."):
        raise HTTPException(422, detail="filename: letters, digits, spaces, '.', '-', '_' only")
    body = await request.body()
    if not body:
        raise HTTPException(422, detail="empty body: send the file's bytes")
    if len(body) > MAX_BYTES:
        raise HTTPException(413, detail=f"file larger than {MAX_BYTES} bytes: split it")
    scope = principal.capture_scope()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / filename
        path.write_bytes(body)
        try:
            placer = await run_in_threadpool(_placer, request, store)
            done = await run_in_threadpool(_run, store, placer, path, source, scope)
            return {**done, "report": _for(principal, done["report"])}
        except IngestError as exc:
            raise HTTPException(
                422, detail=exc.detail if not exc.row else str(exc).replace(str(path), filename)
            ) from None


@router.get(
    "/batches/{batch_id}",
    summary="Quality report of one batch",
    responses={200: {"content": {"application/json": {"example": REPORT_EXAMPLE}}}},
)
async def batch(batch_id: int, principal: Capturer, store: StoreDep) -> dict[str, Any]:
    found = [b for b in await run_in_threadpool(store.list_batches) if b.batch_id == batch_id]
    if not found:
        raise HTTPException(404, detail=f"no batch {batch_id}")
    return _for(principal, await run_in_threadpool(batch_report, store, found[0]))
