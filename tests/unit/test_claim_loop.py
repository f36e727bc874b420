"""The claim loop outlives every Redis error a failover answers with, and recreates a lost group."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from redis.exceptions import ClusterDownError, ConnectionError, ReadOnlyError, ResponseError, TryAgainError

from common.ownership import Ownership


class ScriptedRedis:
    """Answers each XREADGROUP with the next of ``replies`` (an exception is raised); then stops the runner."""

    def __init__(self, runner, replies):
        self.runner = runner
        self.replies = list(replies)
        self.reads = 0
        self.groups_created = 0

    async def xreadgroup(self, *args, **kwargs):
        self.reads += 1
        if not self.replies:
            self.runner.closed = True
            return []
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply

    async def xgroup_create(self, *args, **kwargs):
        self.groups_created += 1


def runner_with(replies):
    runner = SimpleNamespace(closed=False, load=0, sessions={}, worker_id="w1",
                             options=SimpleNamespace(stage="vad", capacity=4, sweep_interval=1.0),
                             metrics=SimpleNamespace(redis_errors=SimpleNamespace(inc=lambda: None)))
    runner.redis = ScriptedRedis(runner, replies)
    return runner


def ownership_of(runner) -> Ownership:
    """The claim loop reads with Redis and the host only (no lease, stage or doorbell is reached)."""
    return Ownership(runner, redis=runner.redis, fence=None, stage=None, metrics=runner.metrics,
                     options=runner.options, worker_id=runner.worker_id)


async def test_failover_replies_are_retried_not_fatal(monkeypatch):
    monkeypatch.setattr("common.bus.Backoff.wait", lambda self: asyncio.sleep(0))
    errors = [ResponseError("UNBLOCKED force unblock from blocking operation"), ClusterDownError("CLUSTERDOWN"),
              TryAgainError("TRYAGAIN"), ReadOnlyError("READONLY"), ResponseError("MASTERDOWN"),
              ConnectionError("reset"),
              # redis-py's asyncio writer closed under a write (redis/redis-py#4287), seen mid-failover
              AttributeError("'NoneType' object has no attribute 'writelines'")]
    runner = runner_with(errors)
    await asyncio.wait_for(ownership_of(runner).claim_loop(), 5)
    assert runner.redis.reads == len(errors) + 1  # every error read again, then the runner closed
    assert runner.redis.groups_created == 0


async def test_a_lost_group_is_recreated_before_the_next_read(monkeypatch):
    monkeypatch.setattr("common.bus.Backoff.wait", lambda self: asyncio.sleep(0))
    runner = runner_with([ResponseError("NOGROUP No such key 'ss:ctl:vad' or consumer group"), []])
    await asyncio.wait_for(ownership_of(runner).claim_loop(), 5)
    assert runner.redis.groups_created == 1
    assert runner.redis.reads == 3
