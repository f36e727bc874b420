"""Leases and fenced writes of (session, stage): the only Redis writes a stage makes.

Ownership of a (session, stage) is a lease key holding ``worker:epoch``, taken
with NX and a TTL and renewed by the owner's heartbeat. Every write of the
owner (outputs, checkpoint, the end of the session) goes through one Lua
script that checks the lease first, so a worker that lost its lease cannot
write: its stale outputs never reach the next stage.

The scripts take positional ``ARGV``; :class:`CommitRequest` is the typed form a
caller builds, and :meth:`Fence.commit` the one place that lays it out.

Retention: no key of a session outlives the session by more than its TTL. The
session lives while its meta does (the gateway renews the meta's TTL while the
client is connected and deletes every key of the session when it closes it).
Each script checks the meta first: when it is gone nothing is written, and
taking the lease of a session that is gone deletes what the stage would have
owned (its input stream, its checkpoint), so a session that ended before a
stage claimed it leaves nothing behind. Every key a script writes or renews
expires at the meta's deadline plus the meta's remaining TTL (``KEY_EXPIRY``):
it outlives a meta that stops being renewed by at most one session TTL, and an
owner's heartbeat keeps its input and checkpoint alive as long as the session.
A meta without a TTL (never the gateway's) falls back to ``key_ttl``.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass

from . import bus
from .errors import SessionGone
from .keys import SessionKeys
from .records import Record, encode

# The expiry (ms from now) of a session key written now: the meta's deadline plus its remaining
# TTL, so that a key outlives the session by at most one session TTL; key_ttl_ms for a meta
# without a TTL.
KEY_EXPIRY = """
local function key_expiry(meta, key_ttl_ms)
  local ttl = redis.call('PTTL', meta)
  if ttl < 0 then return tonumber(key_ttl_ms) end
  return 2 * ttl
end
"""

# Take the lease of (session, stage) if nobody holds it.
# KEYS: lease, checkpoint, meta, input. ARGV: worker id, ttl ms, key ttl ms.
# Returns {-1} session gone (its input and checkpoint here are deleted), {0} held by someone
# else, or {1, epoch, consumed, input seq, output seq, state, config}.
ACQUIRE = KEY_EXPIRY + """
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('DEL', KEYS[2], KEYS[4])
  return {-1}
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {0} end
local epoch = redis.call('HINCRBY', KEYS[2], 'epoch', 1)
local expiry = key_expiry(KEYS[3], ARGV[3])
redis.call('PEXPIRE', KEYS[2], expiry)
redis.call('PEXPIRE', KEYS[4], expiry)
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. epoch, 'PX', ARGV[2])
local ck = redis.call('HMGET', KEYS[2], 'consumed', 'seq', 'out_seq', 'state')
return {1, epoch, ck[1] or '', ck[2] or '0', ck[3] or '0', ck[4] or '', redis.call('HGET', KEYS[3], 'config') or ''}
"""

# Renew a lease if we still hold it, and the expiry of the stage's input and checkpoint.
# KEYS: lease, meta, checkpoint, input. ARGV: token, ttl ms, key ttl ms.
# Returns 1 renewed, 0 lost, -1 session gone (checked first: a deleted session reads as gone).
RENEW = KEY_EXPIRY + """
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local expiry = key_expiry(KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[3], expiry)
redis.call('PEXPIRE', KEYS[4], expiry)
return 1
"""

# Write a stage step's outputs and checkpoint, but only while the session lives and we hold
# the lease. KEYS: lease, checkpoint, input, meta, next stream, out stream.
# ARGV: see Fence.commit. Returns 1 ok, -1 lease lost (nothing written), -2 session gone
# (checked first: the gateway deletes the lease with the rest of a closed session).
COMMIT = KEY_EXPIRY + """
local token, consumed, input_seq, output_seq, state = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local trim_id, finish, key_ttl, next_bell, out_bell = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[10]
if redis.call('EXISTS', KEYS[4]) == 0 then return -2 end
if redis.call('GET', KEYS[1]) ~= token then return -1 end
local expiry = key_expiry(KEYS[4], key_ttl)
local wrote_next, wrote_out = false, false
for i = 11, #ARGV, 2 do
  if ARGV[i] == 'n' then
    redis.call('XADD', KEYS[5], '*', 'r', ARGV[i + 1]); wrote_next = true
  else
    redis.call('XADD', KEYS[6], '*', 'r', ARGV[i + 1]); wrote_out = true
  end
end
if wrote_next then redis.call('PEXPIRE', KEYS[5], expiry); redis.call('PUBLISH', next_bell, '1') end
if wrote_out then redis.call('PEXPIRE', KEYS[6], expiry); redis.call('PUBLISH', out_bell, '1') end
if finish == '1' then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
elseif consumed ~= '' then
  redis.call('HSET', KEYS[2], 'consumed', consumed, 'seq', input_seq, 'out_seq', output_seq, 'state', state)
  redis.call('PEXPIRE', KEYS[2], expiry)
  redis.call('XTRIM', KEYS[3], 'MINID', trim_id)
end
return 1
"""

# Give a lease up (graceful drain) so another worker takes over at once.
# KEYS: lease. ARGV: token.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease just taken, with the checkpoint to resume from (empty for a new session)."""

    epoch: int
    token: str
    consumed: str  # last input id folded into ``state``; '' if none
    input_seq: int
    output_seq: int
    state: bytes
    config: dict


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    """Where a stage's state stands: input up to ``consumed`` is folded into ``state``."""

    consumed: str
    input_seq: int  # seq of the input record after ``consumed``
    output_seq: int  # seq of the next output record
    state: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitRequest:
    """One fenced write: records for the next stream and the client, a checkpoint, or the end."""

    token: str
    output_key: str  # the next stage's input, or the result stream after the last stage
    output_bell: str
    outputs: Sequence[Record] = ()
    to_client: Sequence[Record] = ()
    checkpoint: Checkpoint | None = None
    finish: bool = False  # the session ends here: delete the lease, checkpoint and input


class Commit(enum.Enum):
    """Outcome of :meth:`Fence.commit`."""

    DONE = 1
    FENCED = -1  # the lease is someone else's: nothing was written
    GONE = -2  # the session's meta vanished: nothing was written


class Fence:
    """The lease scripts of one stage, with typed arguments and results."""

    def __init__(self, redis: bus.Redis, *, stage: str, worker_id: str, lease_ttl: float, key_ttl: float) -> None:
        self.stage = stage
        self.worker_id = worker_id
        self._ttl_ms = int(lease_ttl * 1000)
        self._key_ttl_ms = int(key_ttl * 1000)
        self._acquire = redis.register_script(ACQUIRE)
        self._renew = redis.register_script(RENEW)
        self._commit = redis.register_script(COMMIT)
        self._release = redis.register_script(RELEASE)

    async def acquire(self, sk: SessionKeys) -> Lease | None:
        """Take the lease; None if another worker holds it, :class:`SessionGone` if the session ended
        (its input and checkpoint of this stage are deleted then)."""
        reply = await self._acquire(keys=[sk.lease(self.stage), sk.checkpoint(self.stage), sk.meta,
                                          sk.input(self.stage)],
                                    args=[self.worker_id, self._ttl_ms, self._key_ttl_ms])
        status = int(reply[0])
        if status == -1:
            raise SessionGone(sk.session_id)
        if status == 0:
            return None
        epoch, consumed, input_seq, output_seq, state, config = reply[1:]
        return Lease(epoch=int(epoch), token=f"{self.worker_id}:{int(epoch)}", consumed=bus.text(consumed),
                     input_seq=int(input_seq or 0), output_seq=int(output_seq or 0),
                     state=state.encode() if isinstance(state, str) else state,
                     config=json.loads(bus.text(config) or "{}"))

    def renew(self, sk: SessionKeys, token: str):
        """A coroutine renewing one lease (and the expiry of the stage's input and checkpoint):
        1 renewed, 0 lost to another worker, -1 session gone."""
        return self._renew(keys=[sk.lease(self.stage), sk.meta, sk.checkpoint(self.stage), sk.input(self.stage)],
                           args=[token, self._ttl_ms, self._key_ttl_ms])

    async def release(self, sk: SessionKeys, token: str) -> None:
        await self._release(keys=[sk.lease(self.stage)], args=[token])

    async def commit(self, sk: SessionKeys, request: CommitRequest) -> Commit:
        checkpoint = request.checkpoint
        args: list = [
            request.token,
            checkpoint.consumed if checkpoint else "",
            checkpoint.input_seq if checkpoint else 0,
            checkpoint.output_seq if checkpoint else 0,
            checkpoint.state if checkpoint else b"",
            bus.next_id(checkpoint.consumed) if checkpoint else "",  # trim the input up to it
            "1" if request.finish else "0",
            self._key_ttl_ms,
            request.output_bell,
            sk.bell("out"),
        ]
        for record in request.outputs:
            args += ["n", encode(record)]
        for record in request.to_client:
            args += ["o", encode(record)]
        result = await self._commit(
            keys=[sk.lease(self.stage), sk.checkpoint(self.stage), sk.input(self.stage), sk.meta,
                  request.output_key, sk.out],
            args=args,
        )
        return Commit(int(result))
