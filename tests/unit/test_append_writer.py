"""The append writer's retries on a cluster failover, without Redis: a lane that fails, then works."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis import exceptions as rx

from gateway.core.writer import Append, AppendWriter


class FlakyLane:
    """A cluster lane whose first ``failures`` batches get ``error`` (raised, or in place of each reply)."""

    cluster = True

    def __init__(self, failures: int, error: Exception, *, raised: bool) -> None:
        self.failures = failures
        self.error = error
        self.raised = raised
        self.batches: list[list] = []

    async def execute(self, commands: list) -> list:
        self.batches.append(commands)
        if len(self.batches) <= self.failures:
            if self.raised:
                raise self.error
            return [self.error] * len(commands)
        return [b"1-0"] * len(commands)


class Bells:
    """Where a cluster's bells go after the appends."""

    async def publish(self, channel: str, message: str) -> int:
        return 0


def writer(**options) -> AppendWriter:
    made = AppendWriter(aioredis.Redis(), **options)  # its own lanes are never used: the test's is
    made._redis = Bells()
    return made


def append(stream: str) -> Append:
    return Append(stream=stream, payloads=[b"frame"], bell="bell")


async def test_failover_errors_are_written_again_until_they_go_through():
    for error, raised in ((rx.MovedError("3999 127.0.0.1:7001"), False), (rx.ConnectionError("reset"), True),
                          (rx.TryAgainError("TRYAGAIN"), False), (rx.ClusterDownError("CLUSTERDOWN"), False)):
        lane = FlakyLane(2, error, raised=raised)
        appends = [append("a"), append("b")]
        await writer()._write_settling(lane, appends)
        assert len(lane.batches) == 3, error
        assert [a.result() for a in appends] == [None, None]


async def test_other_errors_and_a_spent_retry_window_fail_the_append():
    lane = FlakyLane(1, rx.ResponseError("WRONGTYPE"), raised=False)
    first = append("a")
    await writer()._write_settling(lane, [first])
    assert len(lane.batches) == 1 and isinstance(first._outcome, rx.ResponseError)

    lane = FlakyLane(100, rx.ConnectionError("down"), raised=True)
    second = append("a")
    await writer(cluster_retry=0.3)._write_settling(lane, [second])
    assert 1 < len(lane.batches) < 100 and isinstance(second._outcome, rx.ConnectionError)


async def test_a_single_redis_is_not_retried_here():
    lane = FlakyLane(1, rx.ConnectionError("down"), raised=True)
    lane.cluster = False
    one = append("a")
    await writer()._write_settling(lane, [one])
    assert len(lane.batches) == 1 and isinstance(one._outcome, rx.ConnectionError)


async def test_a_cluster_clients_race_with_its_own_disconnect_is_a_failover_error():
    # (redis-py's cluster PUBLISH mid-failover, CI: "'NoneType' object has no attribute 'writelines'")
    lane = FlakyLane(2, AttributeError("'NoneType' object has no attribute 'writelines'"), raised=True)
    appends = [append("a")]
    await writer()._write_settling(lane, appends)
    assert len(lane.batches) == 3 and [a.result() for a in appends] == [None]

    lane = FlakyLane(1, AttributeError("a bug of ours"), raised=True)
    lane.cluster = False
    with pytest.raises(AttributeError):  # on one Redis it is no failover: it surfaces
        await writer()._write_settling(lane, [append("a")])
