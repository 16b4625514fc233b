"""Structured logs: one JSON object per line for riskmap's loggers (and the access log).

Lines are written by `BufferedHandler`: a record costs a format and a list append on the request's path,
and the lines are written together a few times a second (at once from WARNING up, and at exit), so the
access log of thousands of requests a second is not thousands of write system calls.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import threading
from typing import Any, TextIO

import orjson

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
MARK = "_riskmap_json"


class JsonFormatter(logging.Formatter):
    """time, level, logger, message, any `extra=` fields, and the exception (in the log, never in a
    response)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for k, v in record.__dict__.items():
            if k not in _RESERVED and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


class BufferedHandler(logging.StreamHandler):
    """A stream handler that writes its lines in batches: every `flush_s`, when `max_bytes` are waiting,
    at once for records of WARNING and above, and on `flush()` (logging's shutdown at exit calls it)."""

    def __init__(self, stream: TextIO | None = None, flush_s: float = 0.2, max_bytes: int = 1 << 16) -> None:
        super().__init__(stream)
        self.flush_s, self.max_bytes = flush_s, max_bytes
        self._lines: list[str] = []
        self._size = 0
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        with self.lock:  # type: ignore[union-attr]  # logging.Handler creates it
            self._lines.append(line)
            self._size += len(line)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="riskmap-log", daemon=True)
                self._thread.start()
        if record.levelno >= logging.WARNING or self._size >= self.max_bytes:
            self.flush()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            lines, self._lines, self._size = self._lines, [], 0
            if lines and self.stream is not None:
                try:
                    self.stream.write(self.terminator.join(lines) + self.terminator)
                    self.stream.flush()
                except Exception:  # a closed or broken stream: as StreamHandler does, say so on stderr
                    sys.stderr.write(f"riskmap: {len(lines)} log lines lost\n")

    def _run(self) -> None:
        while not self._wake.wait(self.flush_s):
            self.flush()

    def close(self) -> None:
        self.flush()
        self._wake.set()
        super().close()


def configure(json_logs: bool = True, level: int = logging.INFO) -> None:
    """Give the `riskmap` logger one stderr handler (idempotent: apps built twice log once)."""
    logger = logging.getLogger("riskmap")
    if any(getattr(h, MARK, False) for h in logger.handlers):
        return
    handler = BufferedHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json_logs else logging.Formatter("%(levelname)s %(name)s %(message)s")
    )
    setattr(handler, MARK, True)
    logger.addHandler(handler)
    logger.setLevel(level)
