"""Prometheus metrics at `/metrics`: requests, latencies, snapshot age and staleness, ingest counts.

Each app has its own registry (several apps in one test process never collide). Figures that need the
store (ingest counts) are read by a background thread every `refresh_s`: a scrape never waits on the
store, and still answers while the store is down.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from api.security import READ_METRICS, require

log = logging.getLogger("riskmap.metrics")
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, holder: Any, store: Any, audit: Any = None, refresh_s: float = 5.0) -> None:
        self.holder, self.store, self.audit, self.refresh_s = holder, store, audit, refresh_s
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "riskmap_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "riskmap_http_request_duration_seconds",
            "time to answer, by route",
            ["method", "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "riskmap_http_requests_in_flight", "requests being answered", registry=self.registry
        )
        self.rejected = Counter(
            "riskmap_http_rejected", "requests refused before routing", ["reason"], registry=self.registry
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._batches: dict[str, float] = {}
        self._batches_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.registry.register(self)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        # the labelled children are looked up once per (method, route, status): `labels()` validates
        # and locks on every call, which costs more than counting
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
        children[0].inc()
        children[1].observe(seconds)

    def collect(self) -> Any:
        """The figures read at scrape time (prometheus_client custom collector)."""
        view = getattr(self.holder, "view", None)
        g = GaugeMetricFamily("riskmap_snapshot_id", "id of the snapshot being served (0: none)")
        g.add_metric([], view.info.snapshot_id if view else 0)
        yield g
        age = GaugeMetricFamily(
            "riskmap_snapshot_age_seconds", "seconds since the served snapshot was created"
        )
        loaded = GaugeMetricFamily(
            "riskmap_snapshot_loaded_seconds", "seconds since it was loaded for serving"
        )
        if view is not None:
            created = view.info.created_at.timestamp() if view.info.created_at else view.loaded_at
            age.add_metric([], time.time() - created)
            loaded.add_metric([], time.time() - view.loaded_at)
        yield age
        yield loaded
        stale = GaugeMetricFamily(
            "riskmap_snapshot_stale", "1 while the store is unreachable and the last snapshot is served"
        )
        stale.add_metric([], 1.0 if getattr(self.holder, "stale", False) else 0.0)
        yield stale
        if self._batches:
            b = CounterMetricFamily("riskmap_ingest_batches", "ingest batches committed")
            b.add_metric([], self._batches.get("batches", 0))
            yield b
            rows = CounterMetricFamily("riskmap_ingest_rows", "ingested rows by outcome", labels=["outcome"])
            for k in ("rows_in", "accepted", "corrected", "quarantined", "duplicates"):
                rows.add_metric([k], self._batches.get(k, 0))
            yield rows
            at = GaugeMetricFamily(
                "riskmap_ingest_counts_age_seconds", "seconds since the ingest counts were read"
            )
            at.add_metric([], time.time() - self._batches_at)
            yield at
        if self.audit is not None:
            a = GaugeMetricFamily("riskmap_audit_pending", "audit entries waiting to be written")
            a.add_metric([], self.audit.pending)
            yield a

    def describe(self) -> list[Any]:
        return []

    def _read_batches(self) -> None:
        try:
            batches = self.store.list_batches()
        except Exception as exc:  # store down: keep the last counts (their age says how old)
            log.debug("ingest counts not refreshed: %s", exc)
            return
        out = {"batches": float(len(batches))}
        for k in ("rows_in", "accepted", "corrected", "quarantined", "duplicates"):
            out[k] = float(sum(getattr(b, k) for b in batches))
        self._batches, self._batches_at = out, time.time()

    def _run(self) -> None:
        while True:
            self._read_batches()
            if self._stop.wait(self.refresh_s):
                return

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="riskmap-metrics", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    summary="Prometheus metrics (role monitor or admin)",
    dependencies=[Depends(require(READ_METRICS))],
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
