"""Structured logs: one JSON object per line for riskmap's loggers (and the access log)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

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
        return json.dumps(out, ensure_ascii=False, default=str)


def configure(json_logs: bool = True, level: int = logging.INFO) -> None:
    """Give the `riskmap` logger one stderr handler (idempotent: apps built twice log once)."""
    logger = logging.getLogger("riskmap")
    if any(getattr(h, MARK, False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if json_logs else logging.Formatter("%(levelname)s %(name)s %(message)s")
    )
    setattr(handler, MARK, True)
    logger.addHandler(handler)
    logger.setLevel(level)
