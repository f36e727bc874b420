"""The transcript contract (docs/contract.md) checked on every end-to-end test's sessions, on every door.

Every final a gateway sends goes once to the Redis stream ``ss:finals`` (with its session, channel,
span, text and language: gateway/outputs/transcript_log.py), whichever door the call came through.
:data:`WATCH` reads what each test Redis got there, keeps each session's finals in order, and runs
:func:`common.contract.check` on them: tests/e2e/conftest.py reads before every flush and when a
test's Redis stops, and fails a test whose sessions broke the contract, with the finals around
each violation. A test that breaks a rule on purpose says so with
``@pytest.mark.contract_exempt("why", kinds=(...))``: its violations of those kinds are reported as
warnings, not failures (a kind it does not name still fails).

:func:`assert_contract` is the client-side check, for tests that hold a session's messages
(partials too, which ``ss:finals`` lacks).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from redis.exceptions import RedisError

from common import bus
from common.contract import KINDS, Event, Violation, check, describe, from_finals_stream

FINALS = "ss:finals"
PAGE = 1000  # entries read per XRANGE
READ_TIMEOUT = 30.0  # seconds a read of a Redis's new finals may take (a Sentinel failover in progress)


def assert_contract(events: Sequence[Event], what: str = "session", **knowledge) -> None:
    """Fail with a readable report when ``events`` (one session's, in order) break the contract.
    ``knowledge``: :func:`common.contract.check`'s (``language``, ``speech``, ``reference``)."""
    violations = check(events, **knowledge)
    assert not violations, f"the transcript contract is broken in this {what}:\n{describe(events, violations)}"


Found = list[tuple[str, list[Event], list[Violation]]]  # (session id, its finals, violations)


@dataclass
class _Session:
    events: list[Event] = field(default_factory=list)
    checked: int = 0  # events already checked: only violations at or after them are new


@dataclass
class FinalsWatch:
    """The finals each watched Redis got in ``ss:finals``, per session, and what is checked of them."""

    enabled: bool = False  # set by the e2e conftest: benches that use the kit's RedisServer read nothing
    last_ids: dict[str, str] = field(default_factory=dict)  # per Redis URL: the last entry read
    sessions: dict[tuple[str, str], _Session] = field(default_factory=dict)  # (URL, session id)
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
                    for entry_id, raw in entries:
                        fields = {bus.text(k): bus.text(v) for k, v in raw.items()}
                        (event,) = from_finals_stream([fields])
                        self.sessions.setdefault((url, fields.get("session_id", "")), _Session()).events.append(event)
                        self.last_ids[url] = bus.text(entry_id)
                    if len(entries) < PAGE:
                        return
        except (RedisError, OSError, TimeoutError) as exc:  # its finals since the last read are not known
            self.unread.append(f"{url}: {exc!r}")
        finally:
            await client.aclose()

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

    def forget(self, url: str) -> None:
        """Stop watching ``url`` (its server stopped)."""
        self.last_ids.pop(url, None)

    def new_violations(self) -> Found:
        """(session id, its finals, its new violations) of each session with finals not checked yet.

        A session is checked whole each time (its finals may come over several reads), and only
        violations at its new finals are returned."""
        found = []
        for (url, session_id), session in self.sessions.items():
            if session.checked == len(session.events):
                continue
            violations = [v for v in check(session.events) if v.index >= session.checked or v.index < 0]
            session.checked = len(session.events)
            if violations:
                found.append((session_id, session.events, violations))
        return found


WATCH = FinalsWatch()


def report(found: Found) -> str:
    return "\n".join(f"session {session_id} (ss:finals):\n{describe(events, violations)}"
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
