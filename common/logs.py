"""Logging set-up: plain text or one JSON object per line, with session id and stage.

Code adds context through ``extra={"session_id": ..., "stage": ...}`` or a
:class:`SessionLogger`; the formatters print whichever fields are present.

What a client sent (an id, a header, a message field) is logged as
:class:`Untrusted` ``(value)``: escaped and cut short, so that it can neither
forge a line of its own nor flood the log. The text formatter escapes line
breaks in every message too, for the call site that forgot.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import unicodedata

_CONTEXT = ("session_id", "stage", "worker_id")
MAX_UNTRUSTED = 200  # characters of a client's value in a log line

# Characters that end or rewrite a line on a terminal or in a log collector: C0 and C1 controls
# (CR, LF, ESC...), DEL, and Unicode's line and paragraph separators.
_BREAKS = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7f, 0xa0))} | \
    {0x2028: "\\u2028", 0x2029: "\\u2029"}
_BREAKS.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})


def _escape(char: str) -> str:
    """``char`` as a log shows it: itself, or an escape for a control, format or surrogate character."""
    code = ord(char)
    if code in _BREAKS:
        return _BREAKS[code]
    if unicodedata.category(char) in ("Cf", "Cs", "Co", "Cn"):  # bidi overrides, lone surrogates...
        return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
    return char


class Untrusted:
    """A client's value in a log message: ``log.info("call %s", Untrusted(call_id))``.

    Formatted only if the line is written, like any ``%s`` argument: ``str(value)`` with
    control, format and surrogate characters escaped (``\\n``, ``\\x1b``, ``\\u202e``) and cut
    to ``limit`` characters, the cut marked with the value's length. ``%r`` quotes it.
    """

    __slots__ = ("value", "limit")

    def __init__(self, value: object, *, limit: int = MAX_UNTRUSTED) -> None:
        self.value = value
        self.limit = limit

    def __str__(self) -> str:
        text = self.value if isinstance(self.value, str) else str(self.value)
        escaped = "".join(map(_escape, text[:self.limit + 1]))
        if len(escaped) <= self.limit and len(text) <= self.limit:
            return escaped
        marker = f"...({len(text)} chars)"
        return (escaped[:max(0, self.limit - len(marker))] + marker)[:self.limit]

    def __repr__(self) -> str:
        return repr(str(self))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in _CONTEXT:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    converter = staticmethod(time.gmtime)  # a plain function here would be bound as a method to mypy

    def __init__(self) -> None:
        super().__init__("%(asctime)s.%(msecs)03dZ %(levelname)s %(name)s%(context)s: %(message)s",
                         datefmt="%Y-%m-%dT%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        parts = [f"{name}={getattr(record, name)}" for name in _CONTEXT if getattr(record, name, None)]
        record.context = f" [{' '.join(parts)}]" if parts else ""
        return super().format(record)

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The line before any traceback, its line breaks escaped: one record, one line."""
        return super().formatMessage(record).translate(_BREAKS)


def setup_logging(*, level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class SessionLogger(logging.LoggerAdapter):
    """A logger that stamps every line with a session id (and stage)."""

    def process(self, msg, kwargs):
        kwargs["extra"] = {**self.extra, **kwargs.get("extra", {})}
        return msg, kwargs
