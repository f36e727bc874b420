"""Leases and fenced writes of (session, stage): the only Redis writes a stage makes.

Ownership of a (session, stage) is a lease key holding ``worker:epoch``, taken with NX and a TTL
and renewed by the owner's heartbeat. Every write of the owner (outputs, checkpoint, the end)
goes through one Lua script that checks the lease first, so a worker that lost its lease cannot
write. Commits of many sessions are batched (one ``COMMIT_MANY`` call per
:data:`COMMITS_PER_CALL` sessions on one Redis, one call each on a cluster), each still checked
against its own lease, and sent one batch at a time so that they reach Redis in order. No key of
a session outlives it by more than one TTL: each script checks the session's meta first, and
every key it writes expires with the meta's deadline (``KEY_EXPIRY``).
"""

from __future__ import annotations

import asyncio
import enum
import functools
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import msgpack
from redis.asyncio.cluster import RedisCluster

from . import aio, bus, sentinel
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

# Renew a lease if we still hold it, and the expiry of the stage's input and checkpoint; with a
# read seq, note it in the checkpoint as ``read`` (how far the owner has read its input: the
# stage before paces a batch session by it, see common/lead.py).
# KEYS: lease, meta, checkpoint, input. ARGV: token, ttl ms, key ttl ms, read seq or ''.
# Returns 1 renewed, 0 lost, -1 session gone (checked first: a deleted session reads as gone).
RENEW = KEY_EXPIRY + """
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local expiry = key_expiry(KEYS[2], ARGV[3])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], 'read', ARGV[4]) end
redis.call('PEXPIRE', KEYS[3], expiry)
redis.call('PEXPIRE', KEYS[4], expiry)
return 1
"""

# Write a stage step's outputs and checkpoint, but only while the session lives and we hold
# the lease. k: the keys lease, checkpoint, input, meta, next stream, out stream; a: see
# Fence._commit_call. Returns 1 ok, -1 lease lost (nothing written), -2 session gone
# (checked first: the gateway deletes the lease with the rest of a closed session).
COMMIT_ONE = KEY_EXPIRY + """
local function commit(k, a)
  local token, consumed, input_seq, output_seq, state = a[1], a[2], a[3], a[4], a[5]
  local trim_id, finish, key_ttl, next_bell, out_bell = a[6], a[7], a[8], a[9], a[10]
  if redis.call('EXISTS', k[4]) == 0 then return -2 end
  if redis.call('GET', k[1]) ~= token then return -1 end
  local expiry = key_expiry(k[4], key_ttl)
  local wrote_next, wrote_out = false, false
  for i = 11, #a, 2 do
    if a[i] == 'n' then
      redis.call('XADD', k[5], '*', 'r', a[i + 1]); wrote_next = true
    else
      redis.call('XADD', k[6], '*', 'r', a[i + 1]); wrote_out = true
    end
  end
  if wrote_next then redis.call('PEXPIRE', k[5], expiry); redis.call('PUBLISH', next_bell, '1') end
  if wrote_out then redis.call('PEXPIRE', k[6], expiry); redis.call('PUBLISH', out_bell, '1') end
  if finish == '1' then
    redis.call('DEL', k[1], k[2], k[3])
  elseif consumed ~= '' then
    redis.call('HSET', k[2], 'consumed', consumed, 'seq', input_seq, 'out_seq', output_seq, 'state', state)
    redis.call('PEXPIRE', k[2], expiry)
    redis.call('XTRIM', k[3], 'MINID', trim_id)
  end
  return 1
end
"""

# One session's commit (on a cluster). KEYS: the six keys of COMMIT_ONE; ARGV: its arguments.
COMMIT = COMMIT_ONE + """
return commit(KEYS, ARGV)
"""

# Several sessions' commits in one call (one Redis only: the keys span slots). KEYS: six per
# session, in order; ARGV: per session its arguments as one msgpack array of strings. Each
# session is fenced on its own, as by COMMIT; returns its result per session.
COMMIT_MANY = COMMIT_ONE + """
local results = {}
for i = 1, #ARGV do
  local o = (i - 1) * 6
  results[i] = commit({KEYS[o + 1], KEYS[o + 2], KEYS[o + 3], KEYS[o + 4], KEYS[o + 5], KEYS[o + 6]},
                      cmsgpack.unpack(ARGV[i]))
end
return results
"""

# Give a lease up (graceful drain) so another worker takes over at once.
# KEYS: lease. ARGV: token.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Script calls per pipeline: bounds one round trip's request and reply.
PIPELINE_CALLS = 256
# Sessions per COMMIT_MANY call: bounds how long one call holds Redis (a few ms).
COMMITS_PER_CALL = 64


@functools.lru_cache(maxsize=16384)
def _commit_keys(stage: str, sk: SessionKeys, output_key: str) -> tuple[str, ...]:
    """The keys of COMMIT for a session (cached: a worker commits for the same sessions all the time)."""
    return sk.lease(stage), sk.checkpoint(stage), sk.input(stage), sk.meta, output_key, sk.out


@functools.lru_cache(maxsize=16384)
def _out_bell(sk: SessionKeys) -> str:
    return sk.bell("out")


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease just taken, with the checkpoint to resume from (empty for a new session)."""

    epoch: int
    token: str
    consumed: str  # last input id folded into ``state``; '' if none
    input_seq: int
    output_seq: int
    state: bytes
    config: str  # the session's pipeline config, as the gateway wrote it (see .pipeline_config)


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
    first_seq: int = 0  # the outputs are written numbered from here on
    to_client: Sequence[Record] = ()  # written as they are
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
        self._redis = redis
        self._ttl_ms = int(lease_ttl * 1000)
        self._key_ttl_ms = int(key_ttl * 1000)
        self._acquire = redis.register_script(ACQUIRE)
        self._renew = redis.register_script(RENEW)
        self._commit = redis.register_script(COMMIT)
        self._commit_many = redis.register_script(COMMIT_MANY)
        # On one Redis a call may commit several sessions and a pipeline may carry scripts;
        # a cluster spreads sessions over slots and refuses scripts in pipelines.
        self._one_node = not isinstance(redis, RedisCluster)
        self._release = redis.register_script(RELEASE)
        self._wait = bus.wait_for_replicas(redis)
        self._shortfalls = sentinel.ShortfallLog(self._wait, what=f"{stage} commits") if self._wait else None
        # Commits waiting for the flusher: (keys, args, future of the script's reply).
        # Bounded by the callers: each awaits its own commit.
        self._queue: deque[tuple[list, list, asyncio.Future]] = deque()
        self._flusher: asyncio.Task | None = None

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
                     state=state.encode() if isinstance(state, str) else state, config=bus.text(config))

    async def renew_all(self, leases: Sequence[tuple[SessionKeys, str, int | None]]) -> list:
        """Renew leases (and the expiry of the stage's input and checkpoint), given as
        (session keys, token, input seq read so far to note, or None): per lease 1 renewed,
        0 lost to another worker, -1 session gone, or the exception its script raised.
        Raises if Redis fails."""
        calls = [([sk.lease(self.stage), sk.meta, sk.checkpoint(self.stage), sk.input(self.stage)],
                  [token, self._ttl_ms, self._key_ttl_ms, "" if read is None else read])
                 for sk, token, read in leases]
        replies = []
        for first in range(0, len(calls), PIPELINE_CALLS):
            replies += await self._pipelined([(self._renew, keys, args)
                                              for keys, args in calls[first:first + PIPELINE_CALLS]])
        return replies

    async def release(self, sk: SessionKeys, token: str) -> None:
        await self._release(keys=[sk.lease(self.stage)], args=[token])

    async def commit(self, sk: SessionKeys, request: CommitRequest) -> Commit:
        """Write ``request`` if the lease is still ours; raises if Redis fails.

        Queued for the flusher with every other commit made meanwhile (see the
        module's docstring); a caller cancelled before its pipeline goes out writes nothing.
        """
        return Commit(int(await self.submit(sk, request)))

    def submit(self, sk: SessionKeys, request: CommitRequest) -> asyncio.Future:
        """Queue ``request``; the future gets the script's reply (a :class:`Commit` value) or
        the Redis error. For a caller that waits on many commits at once."""
        keys, args = self._commit_call(sk, request)
        future = asyncio.get_running_loop().create_future()
        self._queue.append((keys, args, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name=f"{self.stage}-commits")
        return future

    async def close(self) -> None:
        """Stop the flusher; commits still queued fail with CancelledError."""
        flusher, self._flusher = self._flusher, None
        await aio.cancel_and_wait(flusher)
        while self._queue:
            self._queue.popleft()[2].cancel()

    async def _flush(self) -> None:
        """Send the queued commits, a pipeline at a time, until none is left."""
        while self._queue:
            batch: list[tuple[list, list, asyncio.Future]] = []
            while self._queue and len(batch) < PIPELINE_CALLS:
                call = self._queue.popleft()
                if not call[2].done():  # its caller was cancelled: not sent
                    batch.append(call)
            if not batch:
                continue
            try:
                replies = await self._commit_batch([(keys, args) for keys, args, _ in batch])
            except asyncio.CancelledError:
                for *_, future in batch:
                    future.cancel()
                raise
            except Exception as exc:  # the whole pipeline failed: every caller sees why
                replies = [exc] * len(batch)
            for (*_, future), reply in zip(batch, replies):
                if future.done():
                    continue
                if isinstance(reply, Exception):
                    future.set_exception(reply)
                    future.exception()  # retrieved: a caller that stopped waiting logs nothing
                else:
                    future.set_result(reply)

    async def _commit_batch(self, calls: list[tuple[list, list]]) -> list:
        """COMMIT for each (keys, args), in one pipeline; the replies in order (see :meth:`_pipelined`).

        On one Redis, :data:`COMMITS_PER_CALL` sessions share one COMMIT_MANY call: one
        command to pack and one reply to read instead of one per session. Behind Sentinel with
        ``wait_replicas`` (:class:`~.sentinel.WaitForReplicas`) a WAIT follows in the same
        round trip: the commits are acknowledged once the replicas have them, or once its
        timeout passed. A connection lost meanwhile fails the batch: its sessions resume
        from what the (new) master holds.
        """
        if not self._one_node:
            return await self._pipelined([(self._commit, keys, args) for keys, args in calls])
        assert not isinstance(self._redis, RedisCluster)  # one node
        groups = [calls[first:first + COMMITS_PER_CALL] for first in range(0, len(calls), COMMITS_PER_CALL)]
        replies = await bus.run_scripts(self._redis, [
            (self._commit_many, [key for keys, _ in group for key in keys],
             # Old-style raw strings: the Lua cmsgpack of Redis 7 reads no bin type.
             [msgpack.packb([str(arg) if isinstance(arg, int) else arg for arg in args], use_bin_type=False)
              for _, args in group])
            for group in groups
        ], wait=self._wait)
        if self._wait is not None:
            assert self._shortfalls is not None  # made with self._wait
            self._shortfalls.check(replies.pop())
        results: list = []
        for group, reply in zip(groups, replies):
            results += [reply] * len(group) if isinstance(reply, Exception) else reply
        return results

    async def _pipelined(self, calls: Sequence[tuple]) -> list:
        """Run each (script, keys, args) in one round trip; the replies in order, an exception
        in place of a call that failed. Raises if the pipeline fails as a whole.

        A cluster pipeline refuses scripts: there the calls go concurrently, one each.
        """
        if not self._one_node:
            return await bus.gather_bounded((script(keys=keys, args=args) for script, keys, args in calls),
                                            return_exceptions=True)
        assert not isinstance(self._redis, RedisCluster)  # one node
        return await bus.run_scripts(self._redis, calls)

    def _commit_call(self, sk: SessionKeys, request: CommitRequest) -> tuple[list, list]:
        """The keys and arguments of the COMMIT script for ``request``."""
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
            _out_bell(sk),
        ]
        for seq, record in enumerate(request.outputs, request.first_seq):
            args += ["n", encode(record, seq=seq)]
        for record in request.to_client:
            args += ["o", encode(record)]
        return list(_commit_keys(self.stage, sk, request.output_key)), args
