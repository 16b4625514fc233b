"""One ASGI middleware around every request: limits, request ids, staleness headers, metrics, access log,
audit entries, and clean errors.

- Headers over `max_headers` or `max_header_bytes` get 431, a query string over `max_query_chars` 414, a
  body over `max_body_bytes` 413 (by Content-Length before any route runs, or counted while it streams),
  a malformed Content-Length 400.
- Every answer carries `X-Request-ID` and, while the store is unreachable and the last snapshot is being
  served, `X-Riskmap-Stale: true` and a `Warning: 110` header.
- An exception no route handled becomes a JSON 500 naming the request id; the traceback goes to the
  log, never to the caller.
- Requests whose route declared an audited permission (see `api.security.require`) are recorded in the
  audit log with their status after the answer is sent.
Pure ASGI (no BaseHTTPMiddleware): it adds microseconds, not a task per request.
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from typing import Any

import orjson

log = logging.getLogger("riskmap.access")
errors = logging.getLogger("riskmap.errors")
_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")
_ids = random.Random()  # seeded from the OS per process; request ids need to be unique, not secret
os.register_at_fork(after_in_child=_ids.seed)  # forked workers must not repeat their parent's ids


class TrustMiddleware:
    def __init__(
        self, app: Any, *, settings: Any, metrics: Any = None, audit: Any = None, holder: Any = None
    ):
        self.app = app
        self.s = settings
        self.metrics = metrics
        self.audit = audit
        self.holder = holder

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        headers = dict(scope.get("headers") or [])
        rid_raw = headers.get(b"x-request-id", b"")
        rid = rid_raw.decode() if _REQUEST_ID.match(rid_raw) else f"{_ids.getrandbits(64):016x}"
        status = 0
        started = False
        replied = False  # this middleware answered (body too large): the app's own answer is dropped
        extra = [(b"x-request-id", rid.encode())]
        if self.holder is not None and getattr(self.holder, "stale", False):
            extra += [
                (b"x-riskmap-stale", b"true"),
                (b"warning", b'110 riskmap "store unreachable: last snapshot"'),
            ]

        async def send_wrapped(message: dict[str, Any], *, own: bool = False) -> None:
            nonlocal status, started
            if replied and not own:
                return
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        async def reply(code: int, detail: str, reason: str) -> None:
            if self.metrics is not None:
                self.metrics.rejected.labels(reason).inc()
            body = orjson.dumps({"detail": detail, "request_id": rid})
            await send_wrapped(
                {
                    "type": "http.response.start",
                    "status": code,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send_wrapped({"type": "http.response.body", "body": body})

        if self.metrics is not None:
            self.metrics.in_flight.inc()
        try:
            raw_headers = scope.get("headers") or []
            if (
                len(raw_headers) > self.s.max_headers
                or sum(len(k) + len(v) for k, v in raw_headers) > self.s.max_header_bytes
            ):
                await reply(
                    431,
                    f"request headers over {self.s.max_headers} or {self.s.max_header_bytes} bytes",
                    "headers",
                )
                return
            if len(scope.get("query_string", b"")) > self.s.max_query_chars:
                await reply(
                    414, f"query string longer than {self.s.max_query_chars} characters", "uri_too_long"
                )
                return
            length = headers.get(b"content-length")
            if length is not None:
                if not length.isdigit():
                    await reply(400, "Content-Length must be a non-negative integer", "bad_length")
                    return
                if int(length) > self.s.max_body_bytes:
                    await reply(413, f"request body over {self.s.max_body_bytes} bytes", "too_large")
                    return
            received = 0
            limit = self.s.max_body_bytes

            async def receive_counted() -> dict[str, Any]:
                nonlocal received, replied
                if replied:
                    return {"type": "http.disconnect"}
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:  # streamed past the limit: answer now, the app sees a disconnect
                        if not started:
                            await reply(413, f"request body over {self.s.max_body_bytes} bytes", "too_large")
                        replied = True
                        return {"type": "http.disconnect"}
                return message

            await self.app(scope, receive_counted, send_wrapped)
        except Exception:
            errors.exception("unhandled error", extra={"request_id": rid, "path": scope.get("path")})
            if not started:
                await reply(500, "internal error; the request id names it in the server's log", "error")
            else:
                status = status or 500
        finally:
            seconds = time.perf_counter() - t0
            route = _route(scope)
            method = scope.get("method", "")
            if self.metrics is not None:
                self.metrics.in_flight.dec()
                self.metrics.observe(method, route, status or 500, seconds)
            state = scope.get("state") or {}
            principal = state.get("principal")
            client = scope.get("client")
            ip = client[0] if client else ""
            if self.s.access_log and log.isEnabledFor(logging.INFO):
                # the record is made here rather than by log.info(), which first walks the call stack
                # for a file and line the access log has no use for
                record = log.makeRecord(
                    log.name,
                    logging.INFO,
                    __file__,
                    0,
                    "%s %s %s",
                    (method, route, status),
                    None,
                    None,
                    {
                        "request_id": rid,
                        "method": method,
                        "path": scope.get("path"),
                        "route": route,
                        "status": status,
                        "ms": round(seconds * 1000, 2),
                        "who": principal.subject if principal is not None else None,
                        "ip": ip,
                    },
                )
                log.handle(record)
            audited = state.get("audit")
            if audited is not None and self.audit is not None:
                action, who = audited
                query = scope.get("query_string", b"").decode("latin-1")
                target = scope.get("path", "") + (f"?{query}" if query else "")
                self.audit.record(
                    actor=who.subject if who.via else "public",
                    action=action,
                    target=target,
                    outcome=str(status or 500),
                    ip=ip,
                    detail={
                        "via": who.via,
                        "method": method,
                        "request_id": rid,
                        "roles": sorted(who.roles),
                        **(state.get("audit_detail") or {}),  # a route's own facts (filter, row count)
                    },
                )


def _route(scope: dict[str, Any]) -> str:
    """The route template (bounded label set), not the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path:
        return str(path)
    root = scope.get("root_path", "") + scope.get("path", "")
    if root.startswith("/static/"):
        return "/static/*"
    return "<unmatched>"
