"""Logging set-up: plain text or one JSON object per line, with session id and stage.

Code adds context through ``extra={"session_id": ..., "stage": ...}`` or a
:class:`SessionLogger`; the formatters print whichever fields are present.

What a client sent (an id, a header, a message field) is logged as
:class:`Untrusted` ``(value)``: escaped and cut short, so that it can neither
forge a line of its own nor flood the log. The text formatter escapes line
breaks in every message too, for the call site that forgot.

What goes over a WebSocket stays out of the log at every level: websockets' DEBUG
lines dump each frame (a client's config, a transcript, audio) and the handshake's
headers (an API key); :class:`WireContents` keeps a frame's kind and size and a
header's name only (:func:`setup_logging` installs it on every service's handler).
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


# Handshake headers websockets' DEBUG lines may show as they are: nothing a client chose to send.
_PLAIN_HEADERS = frozenset({"host", "upgrade", "connection", "sec-websocket-version", "sec-websocket-key",
                            "sec-websocket-accept", "sec-websocket-extensions", "content-type", "content-length",
                            "transfer-encoding", "date", "server", "retry-after"})


class _Frame:
    """A websockets frame as a log shows it: kind, size and (of a close) the code, never its payload."""

    __slots__ = ("frame",)

    def __init__(self, frame: object) -> None:
        self.frame = frame

    def __str__(self) -> str:
        opcode = getattr(self.frame, "opcode", None)
        data = bytes(getattr(self.frame, "data", b""))
        name = getattr(opcode, "name", str(opcode))
        code = f" code {int.from_bytes(data[:2], 'big')}" if name == "CLOSE" and len(data) >= 2 else ""
        more = "" if getattr(self.frame, "fin", True) else ", continued"
        return f"{name}{code} [{len(data)} bytes{more}]"


class WireContents(logging.Filter):
    """Keeps what a WebSocket carried out of websockets' log lines (loggers ``websockets`` and below).

    At DEBUG, websockets logs every frame it sends and receives with the start and end of
    its payload (``< TEXT '{"type": "config", ...}'``, ``> TEXT '{"type": "final", "text": ...'``)
    and each handshake header with its value (``Authorization``, ``X-API-KEY``,
    ``Sec-WebSocket-Protocol: token, KEY``). A frame becomes its kind and size; a header not in
    :data:`_PLAIN_HEADERS` its name and length; a request's target its path without the query
    (``?token=KEY``, a door's settings). Other records pass as they are.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "websockets" and not record.name.startswith("websockets."):
            return True
        args = record.args
        if isinstance(args, tuple) and args:
            if record.msg in ("< %s: %s", "> %s: %s") and len(args) == 2 and \
                    str(args[0]).lower() not in _PLAIN_HEADERS:
                args = (args[0], f"[{len(str(args[1]))} chars]")
            elif record.msg == "< %s %s %s" and len(args) == 3:  # method, target, protocol
                args = (args[0], str(args[1]).partition("?")[0], args[2])
            elif record.msg == "> GET %s HTTP/1.1" and len(args) == 1:
                args = (str(args[0]).partition("?")[0],)
            record.args = tuple(_Frame(a) if hasattr(a, "opcode") and hasattr(a, "data") else a for a in args)
        return True


WIRE_CONTENTS = WireContents()


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
    handler.addFilter(WIRE_CONTENTS)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class SessionLogger(logging.LoggerAdapter):
    """A logger that stamps every line with a session id (and stage)."""

    def process(self, msg, kwargs):
        kwargs["extra"] = {**self.extra, **kwargs.get("extra", {})}
        return msg, kwargs
