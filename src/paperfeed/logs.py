"""Logging for the CLI and the server's worker processes: every line with its UTC time, as text
or as one JSON object a line (PAPERFEED_LOG_FORMAT=json, `--log-format json`) for a log
collector. uvicorn's own loggers go the same way (serve gives it no configuration of its own).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

FORMATS = ("text", "json")
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_EXTRA = ("client", "method", "path", "route", "status", "ms")  # the access log's fields


class _UTCFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


class JSONFormatter(_UTCFormatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update((k, getattr(record, k)) for k in _EXTRA if hasattr(record, k))
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def setup_logging(level: int | str = logging.WARNING, fmt: str = "text",
                  access_log: bool = False) -> None:  # fmt: skip
    """One handler on stderr for everything; `access_log` lets `paperfeed.access` through at
    INFO whatever the level."""
    handler = logging.StreamHandler()
    handler.setFormatter(JSONFormatter() if fmt == "json" else _UTCFormatter(TEXT))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn = logging.getLogger(name)
        uvicorn.handlers.clear()
        uvicorn.propagate = True
    logging.getLogger("paperfeed.access").setLevel(logging.INFO if access_log else logging.WARNING)
