"""The gateway's batch lane bounds a cluster batch by the same one deadline as a one-node batch."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import TimeoutError as RedisTimeout

from gateway.core.resp import Lane


class SilentCluster(RedisCluster):
    """A cluster client whose pipelines never get an answer (a node that took the batch and
    went quiet); made without __init__, which would connect."""

    def __init__(self) -> None:
        self.sent: list[tuple] = []

    def pipeline(self, transaction=None, shard_hint=None):
        return SilentPipeline(self.sent)


class SilentPipeline:
    def __init__(self, sent: list[tuple]) -> None:
        self.sent = sent

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False

    def execute_command(self, *args):
        self.sent.append(args)

    async def execute(self, raise_on_error=True):
        await asyncio.Event().wait()


async def test_a_cluster_batch_that_gets_no_answer_times_out_instead_of_stalling_the_gateway():
    cluster = SilentCluster()
    lane = Lane(cluster)
    assert lane.cluster
    lane.timeout = 0.05
    with pytest.raises(RedisTimeout, match="a batch of 2 commands took over 0.05 s"):
        await asyncio.wait_for(lane.execute([("XADD", "s", "*", "r", b"x"), ("XLEN", "s")]), 5)
    assert cluster.sent == [("XADD", "s", "*", "r", b"x"), ("XLEN", "s")]
