"""The audit log: who authenticated, viewed households, exported, ingested, corrected or changed users
and keys, and when; append-only and tamper-evident (each entry hashes the one before it).

- `append(store, …)` records one entry at once (commands: `riskmap users`, `keys`, `retention`, …).
- `AuditWriter` records entries for the API without making requests wait: entries are buffered and
  appended in one chained write every `flush_s`; while the store is down they stay buffered (bounded)
  and are written when it returns.
- `verify(store)` recomputes the chain: an edited, inserted or deleted entry, or a deleted tail (the
  store keeps the last hash apart from the log), is reported with its sequence number.
- `GET /v1/audit` lets admins query it (`riskmap audit show` does the same from the command line).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

import orjson
import pandas as pd
from fastapi import APIRouter, Depends, Query, Response
from starlette.concurrency import run_in_threadpool

from api.deps import StoreDep
from api.security import ADMIN, require
from risk.store import Store, StoreError
from risk.store.base import GENESIS, audit_hash, utcnow

log = logging.getLogger("riskmap.audit")
MAX_BUFFER = 100_000


def entry(
    actor: str,
    action: str,
    target: str = "",
    outcome: str = "ok",
    ip: str | None = None,
    detail: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> dict[str, Any]:
    return {
        "at": at or utcnow(),
        "actor": actor,
        "action": action,
        "target": target,
        "outcome": outcome,
        "ip": ip or None,
        "detail": json.dumps(detail or {}, ensure_ascii=False, default=str, sort_keys=True),
    }


def append(store: Store, actor: str, action: str, target: str = "", outcome: str = "ok", **kw: Any) -> int:
    """Record one entry now; returns its sequence number."""
    out = store.append_audit(pd.DataFrame([entry(actor, action, target, outcome, **kw)]))
    return int(out["seq"].iloc[0])


class AuditWriter:
    """Buffered, chained appends for the API (one background thread)."""

    def __init__(self, store: Store, flush_s: float = 0.5) -> None:
        self.store = store
        self.flush_s = flush_s
        self._buf: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.written = 0

    def record(self, **kw: Any) -> None:
        e = entry(**kw)
        with self._lock:
            self._buf.append(e)
            if len(self._buf) > MAX_BUFFER:
                del self._buf[: len(self._buf) - MAX_BUFFER]
                self.dropped += 1
                log.error("audit buffer full (store unreachable?): oldest entries dropped")

    @property
    def pending(self) -> int:
        return len(self._buf)

    def flush(self) -> int:
        with self._lock:
            batch, self._buf = self._buf, []
        if not batch:
            return 0
        try:
            self.store.append_audit(pd.DataFrame(batch))
        except Exception as exc:  # keep them for the next try; never lose an entry we could keep
            with self._lock:
                self._buf[:0] = batch
            log.warning("audit entries not written yet (%d pending): %s", len(self._buf), exc)
            return 0
        self.written += len(batch)
        return len(batch)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            self.flush()
        self.flush()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="riskmap-audit", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        else:
            self.flush()


@dataclass
class Verdict:
    entries: int
    head: tuple[int, str]
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(store: Store) -> Verdict:
    """Recompute the hash chain of the whole log and compare its end with the stored head."""
    log_ = store.read_table("audit_log").sort_values("seq", kind="stable").reset_index(drop=True)
    head = store.audit_head()
    v = Verdict(len(log_), head)
    prev, expect = GENESIS, 1
    for row in log_.to_dict("records"):
        seq = int(row["seq"])
        if seq != expect:
            v.problems.append(
                f"entry {expect} is missing" if seq > expect else f"entry {seq} appears more than once"
            )
            expect = seq
        if row["prev_hash"] != prev:
            v.problems.append(f"entry {seq}: does not follow the entry before it (deleted or reordered)")
        if audit_hash(row["prev_hash"], row) != row["hash"]:
            v.problems.append(f"entry {seq}: content changed after it was written")
        prev, expect = row["hash"], seq + 1
    last = (int(log_["seq"].iloc[-1]), str(log_["hash"].iloc[-1])) if len(log_) else (0, GENESIS)
    if last != head:
        v.problems.append(
            f"the log ends at entry {last[0]} but the store's head says {head[0]} (entries deleted or edited)"
        )
    return v


def query(
    store: Store,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    actor: str | None = None,
    action: str | None = None,
    limit: int = 1000,
) -> pd.DataFrame:
    """Entries matching every given condition, newest first."""
    filters: list[Any] = []
    if since:
        filters.append(("at", ">=", since))
    if until:
        filters.append(("at", "<", until))
    if actor:
        filters.append(("actor", "=", actor))
    if action:
        filters.append(("action", "=", action))
    df = store.read_table("audit_log", filters=filters)
    return df.sort_values("seq", ascending=False).head(limit).reset_index(drop=True)


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for r in df.to_dict("records"):
        r["at"] = pd.Timestamp(r["at"]).isoformat()
        r["seq"] = int(r["seq"])
        with contextlib.suppress(ValueError):  # otherwise shown as written
            r["detail"] = json.loads(r["detail"]) if r["detail"] else {}
        out.append({k: (None if isinstance(v, float) and pd.isna(v) else v) for k, v in r.items()})
    return out


router = APIRouter(prefix="/v1/audit", tags=["audit"])
AUDIT_EXAMPLE = {
    "entries": [
        {
            "seq": 42,
            "at": "2021-10-24T09:15:02.118+00:00",
            "actor": "key:k_3f9a",
            "action": "export",
            "target": "/v1/households/export",
            "outcome": "200",
            "ip": "10.0.0.7",
            "detail": '{"ward_id":"hcmc-2025:26740","format":"xlsx","rows":812}',
            "prev_hash": "9b1c…",
            "hash": "e07d…",
        }
    ],
    "count": 1,
    "at": 1635066902.5,
}


@router.get(
    "",
    summary="Audit log entries, newest first (admins)",
    dependencies=[Depends(require(ADMIN, audit="audit.read"))],
    responses={200: {"content": {"application/json": {"example": AUDIT_EXAMPLE}}}},
)
async def read_audit(
    store: StoreDep,
    since: Annotated[dt.datetime | None, Query(description="ISO 8601 time, inclusive")] = None,
    until: Annotated[dt.datetime | None, Query(description="ISO 8601 time, exclusive")] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Response:
    try:
        df = await run_in_threadpool(
            query, store, since=since, until=until, actor=actor, action=action, limit=limit
        )
    except StoreError as exc:
        return Response(
            orjson.dumps({"detail": f"audit log unavailable: {exc}"}),
            status_code=503,
            media_type="application/json",
        )
    body = {"entries": records(df), "count": len(df), "at": time.time()}
    return Response(orjson.dumps(body), media_type="application/json")
