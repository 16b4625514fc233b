"""Trust for the API: authentication, rate and request limits, audit, metrics, logs, clean errors.

`install(app)` is called once by `api.app.create_app`; everything it adds lives here and in `api/auth`,
`api/audit.py` and `api/security.py`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from api.audit import AuditWriter
from api.audit import router as audit_router
from api.auth.authenticator import Authenticator
from api.auth.settings import AuthSettings, auth_settings
from api.trust import logs
from api.trust.metrics import Metrics
from api.trust.metrics import router as metrics_router
from api.trust.middleware import TrustMiddleware
from api.trust.ratelimit import RateLimiter
from api.trust.settings import TrustSettings, trust_settings


def install(app: FastAPI, settings: TrustSettings | None = None, auth: AuthSettings | None = None) -> None:
    """Add authentication, limits, audit, metrics and logs to an app built by `create_app`."""
    s = settings or trust_settings()
    store = app.state.store
    holder = getattr(app.state, "snapshots", None)
    audit = AuditWriter(store, s.audit_flush_s)
    app.state.audit = audit
    app.state.auth = Authenticator(store, auth or auth_settings(), audit)
    app.state.limiter = RateLimiter(s.rate_per_key_s, s.rate_per_ip_s, s.burst_s)
    metrics = Metrics(holder, store, audit, s.metrics_refresh_s)
    app.state.metrics = metrics
    app.include_router(audit_router)
    app.include_router(metrics_router)
    app.add_middleware(TrustMiddleware, settings=s, metrics=metrics, audit=audit, holder=holder)
    logs.configure(s.json_logs)

    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        async with inner(app_) as state:
            audit.start()
            metrics.start()
            with contextlib.suppress(Exception):  # store down at start: users and keys load on first use
                await run_in_threadpool(app.state.auth.directory)
            try:
                yield state
            finally:
                metrics.stop()
                audit.stop()  # flushes what is buffered, before the store closes

    app.router.lifespan_context = lifespan
