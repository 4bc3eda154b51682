"""Logging set-up: text or JSON lines, and a filter that keeps message bodies and phone numbers out of logs.

The filter sits on the handler, so it sees every record that reaches it, whichever logger made it (ours,
python-gsmmodem's raw serial lines at DEBUG, waitress). It renders the message once, masks it, and replaces
`msg`/`args` with the masked text; a traceback is formatted and masked the same way.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import TextIO

from gateway.config import LoggingSettings
from gateway.rules.masking import mask_text

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class MaskingFilter(logging.Filter):
    """Masks PDUs always, and phone-number-like digit runs unless `mask_numbers` is False."""

    def __init__(self, mask_numbers: bool = True) -> None:
        super().__init__()
        self.mask_numbers = mask_numbers

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the record
            message = f"{record.msg!r} % {record.args!r}"
        record.msg, record.args = mask_text(message, mask_numbers=self.mask_numbers), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text, mask_numbers=self.mask_numbers)
            record.exc_info = None  # the masked text is what gets printed
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts (UTC, ISO 8601), level, logger, thread, msg, extra fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "thread": record.threadName,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and not k.startswith("_")})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


def build_handler(settings: LoggingSettings, stream: TextIO | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(MaskingFilter(settings.mask_numbers))
    return handler


# loggers whose INFO lines are chatter, not news: APScheduler's lines per run of every periodic job and per job
# added, Alembic's line per migration (the store says the upgrade in one line), python-gsmmodem's connect lines
# (the worker says when a modem is online)
QUIET_BELOW_WARNING = ("apscheduler.executors", "apscheduler.scheduler", "alembic",
                       "gsmmodem.modem.GsmModem")


def configure(settings: LoggingSettings, level: str | int = "INFO", stream: TextIO | None = None) -> logging.Handler:
    """Replace the root logger's handlers with one masked handler in the configured format (the chatter of
    QUIET_BELOW_WARNING only from WARNING up, unless DEBUG asks for everything)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    handler = build_handler(settings, stream)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in QUIET_BELOW_WARNING:
        logging.getLogger(name).setLevel(logging.NOTSET if root.level <= logging.DEBUG else logging.WARNING)
    return handler
