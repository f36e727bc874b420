"""The transcript contract (docs/contract.md) checked on every end-to-end test's sessions, on every door.

Every final a gateway sends goes once to the Redis stream ``ss:finals`` (with its session, channel,
span, text and language: gateway/outputs/transcript_log.py), whichever door the call came through.
:data:`WATCH` reads what each test Redis (plain, Sentinel or Cluster) got there, keeps each
session's finals in order, and runs :func:`common.contract.check` on them; from the calls' logs
(``ss:call:...:log``, kept a while after each call) it reads the partials too, for the one rule
``ss:finals`` cannot show (no partial after its utterance's final), and each call's log whole
with what it asked for (its registry entry's ``asked``) for rules 7 and 8
(:func:`common.contract.check_call`: options dropped silently, alerts against the summary). A
session's finals are checked against the language it asked for (``ss:finals``' ``language_asked``).
tests/e2e/conftest.py reads after each test, before every flush and when a test's Redis stops,
and fails a test whose sessions broke the contract, with the finals around each violation. A test
that breaks a rule on purpose says so with
``@pytest.mark.contract_exempt("why", kinds=(...))``: its violations of those kinds are reported as
warnings, not failures (a kind it does not name still fails).

:func:`assert_contract` is the client-side check, for tests that hold a session's messages
(partials too, which ``ss:finals`` lacks).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from redis.exceptions import RedisError

from common import bus
from common.contract import KINDS, Event, Violation, check, check_call, describe, from_finals_stream, from_native

FINALS = "ss:finals"
PAGE = 1000  # entries read per XRANGE
# Call logs (ss:call:{TENANT/CALL}:log) hold partials too, for as long as a call is kept: they are read
# for what ss:finals cannot show; the rest is ss:finals' to check, once.
LOGS = "ss:call:*:log"
LOG_KINDS = frozenset({"partial_after_final"})
READ_TIMEOUT = 30.0  # seconds a read of a Redis's new finals may take (a Sentinel failover in progress)


def assert_contract(events: Sequence[Event], what: str = "session", **knowledge) -> None:
    """Fail with a readable report when ``events`` (one session's, in order) break the contract.
    ``knowledge``: :func:`common.contract.check`'s (``language``, ``speech``, ``reference``)."""
    violations = check(events, **knowledge)
    assert not violations, f"the transcript contract is broken in this {what}:\n{describe(events, violations)}"


Found = list[tuple[str, list[Event], list[Violation]]]  # (session id, its finals, violations)


@dataclass
class _Session:
    source: str  # where its events were read
    kinds: frozenset[str] = frozenset(KINDS)  # the violations looked for in them
    events: list[Event] = field(default_factory=list)
    checked: int = 0  # events already checked: only violations at or after them are new
    language: str | None = None  # the language the session asked for (None: detected)


@dataclass
class _Call:
    """A call's log, read whole, and what the call asked for: checked whole each time it grew, its
    violations reported once (a test's check may come before the call's end was written)."""

    call_id: str
    asked: dict
    messages: list[dict] = field(default_factory=list)
    checked: int = 0  # messages already checked
    reported: set[tuple[str, str, int]] = field(default_factory=set)


@dataclass
class FinalsWatch:
    """The finals each watched Redis got in ``ss:finals``, per session, and what is checked of them."""

    enabled: bool = False  # set by the e2e conftest: benches that use the kit's RedisServer read nothing
    last_ids: dict[str, str] = field(default_factory=dict)  # per Redis URL: the last entry read
    sessions: dict[tuple[str, str, str], _Session] = field(default_factory=dict)  # (URL, source, session id)
    logs_read: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (URL, log key, started): seq
    calls: dict[tuple[str, str, str], _Call] = field(default_factory=dict)  # (URL, log key, started)
    unread: list[str] = field(default_factory=list)  # URLs a read failed on (the server was gone)

    def watch(self, url: str) -> None:
        if self.enabled:
            self.last_ids.setdefault(url, "0-0")

    def collect(self, url: str | None = None) -> None:
        """Read the entries not read yet of ``url``'s ``ss:finals`` (None: every watched Redis)."""
        for each in [url] if url is not None else list(self.last_ids):
            if each in self.last_ids:
                self._read(each)

    def _read(self, url: str) -> None:
        # In a thread of its own with its own loop: callers run inside a test's event loop or outside one.
        with ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, self._read_all(url)).result()

    async def _read_all(self, url: str) -> None:
        client = bus.connect(url)  # a plain, Sentinel or Cluster URL alike
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                while True:
                    entries = await client.xrange(FINALS, min=f"({self.last_ids[url]}", count=PAGE)
                    assert entries is not None  # no entries: []
                    for entry_id, raw in entries:
                        assert entry_id is not None and raw is not None  # XRANGE gives both
                        fields = {bus.text(k): bus.text(v) for k, v in raw.items()}
                        (event,) = from_finals_stream([fields])
                        session = self._session(url, FINALS, fields.get("session_id", ""))
                        session.events.append(event)
                        session.language = session.language or fields.get("language_asked") or None
                        self.last_ids[url] = bus.text(entry_id)
                    if len(entries) < PAGE:
                        break
                async for key in client.scan_iter(match=LOGS, count=PAGE):
                    await self._read_log(url, client, bus.text(key))
        except (RedisError, OSError, TimeoutError) as exc:  # its finals since the last read are not known
            self.unread.append(f"{url}: {exc!r}")
        finally:
            await client.aclose()

    async def _read_log(self, url: str, client: bus.Redis, key: str) -> None:
        """A call log's new entries (a log is read by its seq: entry ids ``0-SEQ``): partials and finals
        per session, every entry per call."""
        # A call id used again: a new log.
        started, asked = await client.hmget(key.removesuffix(":log"), ["started", "asked"])
        at = (url, key, bus.text(started) if started is not None else "")
        call = self.calls.setdefault(at, _Call(key, json.loads(bus.text(asked)) if asked else {}))
        while True:
            entries = await client.xrange(key, min=f"(0-{self.logs_read.get(at, 0)}", count=PAGE)
            assert entries is not None  # no entries: []
            for entry_id, raw in entries:
                assert entry_id is not None and raw is not None  # XRANGE gives both
                message = json.loads(bus.text(raw.get(b"m", raw.get("m", b"{}"))))
                call.messages.append(message)
                for event in from_native([message]):
                    self._session(url, "call log", message.get("session_id", ""), LOG_KINDS).events.append(event)
                self.logs_read[at] = int(bus.text(entry_id).partition("-")[2])
            if len(entries) < PAGE:
                return

    def _session(self, url: str, source: str, session_id: str, kinds: frozenset[str] = frozenset(KINDS)) -> _Session:
        return self.sessions.setdefault((url, source, session_id), _Session(source, kinds))

    def closing(self, url: str, processes) -> None:
        """``url``'s Redis is stopping: read its finals first if all its ``processes`` still run (one a
        test killed may leave it unreadable), then forget it."""
        if url in self.last_ids:
            if all(process.proc.poll() is None for process in processes):
                self.collect(url)
            else:
                self.unread.append(f"{url}: a process of it had stopped; finals of its last test may be unread")
        self.forget(url)

    def flushed(self, url: str) -> None:
        """``url``'s Redis was emptied: its next ``ss:finals`` is read from the start (a new entry's id
        may be lower than the last one read, in the same millisecond)."""
        if url in self.last_ids:
            self.last_ids[url] = "0-0"
        self.logs_read = {at: seq for at, seq in self.logs_read.items() if at[0] != url}
        # Calls with entries not checked yet (the check comes after the flush) are kept.
        self.calls = {at: call for at, call in self.calls.items()
                      if at[0] != url or call.checked < len(call.messages)}

    def forget(self, url: str) -> None:
        """Stop watching ``url`` (its server stopped)."""
        self.last_ids.pop(url, None)

    def new_violations(self) -> Found:
        """(session id, its finals, its new violations) of each session with finals not checked yet.

        A session is checked whole each time (its finals may come over several reads), and only
        violations at its new finals are returned."""
        found = []
        for (url, source, session_id), session in self.sessions.items():
            if session.checked == len(session.events):
                continue
            violations = [v for v in check(session.events, language=session.language)
                          if (v.index >= session.checked or v.index < 0) and v.kind in session.kinds]
            session.checked = len(session.events)
            if violations:
                found.append((f"{session_id} ({source})", session.events, violations))
        for call in self.calls.values():
            if call.checked == len(call.messages):
                continue
            call.checked = len(call.messages)
            violations = [v for v in check_call(call.messages, asked=call.asked)
                          if (v.kind, v.detail, v.index) not in call.reported]
            call.reported |= {(v.kind, v.detail, v.index) for v in violations}
            if violations:
                found.append((f"{call.call_id} (call log, asked {call.asked})", [], violations))
        return found


WATCH = FinalsWatch()


def report(found: Found) -> str:
    return "\n".join(f"session {session_id}:\n{describe(events, violations)}"
                     for session_id, events, violations in found)


def exempt(found: Found, reason: str, kinds: Sequence[str] = ()) -> tuple[Found, Found]:
    """(what still fails, what is excused) for a test marked ``contract_exempt(reason, kinds=kinds)``:
    violations of ``kinds`` (none named: every kind) are excused. A reason is required."""
    if not reason:
        raise ValueError("contract_exempt needs its reason")
    excused = set(kinds or KINDS)
    if unknown := excused - set(KINDS):
        raise ValueError(f"contract_exempt: unknown kinds {sorted(unknown)}")

    def keep(wanted: bool) -> Found:
        kept = [(s, e, [v for v in vs if (v.kind in excused) == wanted]) for s, e, vs in found]
        return [item for item in kept if item[2]]

    return keep(False), keep(True)
