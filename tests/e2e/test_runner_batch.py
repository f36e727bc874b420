"""Batched writes of the stage runner against a real redis-server: ``commit_all`` and the
commits that the fence groups into one call still fence each session on its own; a stage that
takes recordings apart gets them from a loop of their own."""

from __future__ import annotations

import asyncio

from common.errors import LeaseLost, SessionGone
from common.pipeline_config import PipelineConfig
from common.records import Audio, decode
from common.stage import Write

from .test_runner import EchoStage, make_runner, new_session, next_seen, send


async def owned(redis, runner, stage, count):
    sessions = []
    for _ in range(count):
        sk = await new_session(redis)
        await send(redis, sk, 0)
        await next_seen(stage)
        sessions.append((sk, runner.sessions[sk.session_id]))
    return sessions


def audio(seq):
    return Audio(seq=seq, offset=seq * 160, pcm=b"\0\0" * 160)


async def forwarded(redis, sk):
    return [decode(fields[b"r"]).seq for _, fields in await redis.xrange(sk.input("asr"))]


async def test_commit_all_fences_each_session_on_its_own(redis):
    runner, stage = await make_runner(redis)
    try:
        (sk_a, a), (sk_b, b), (sk_c, c) = await owned(redis, runner, stage, 3)
        await redis.set(sk_b.lease("vad"), "someone-else:2")  # b was taken over
        await redis.delete(sk_c.meta)  # c's client left
        errors = await runner.commit_all([Write(a, [audio(1), audio(2)]), Write(b, [audio(1)]),
                                          Write(c, [audio(1)]), Write(a, [audio(3)])])
        assert errors[0] is None and errors[3] is None
        assert isinstance(errors[1], LeaseLost) and isinstance(errors[2], SessionGone)
        assert await forwarded(redis, sk_a) == [0, 1, 2, 3]  # in order, across writes of one batch
        assert await forwarded(redis, sk_b) == [0]  # nothing after the fence
        assert runner.metrics.fenced_rejects._value.get() == 1
        assert set(runner.sessions) == {sk_a.session_id}
    finally:
        await runner.close()


async def test_concurrent_commits_of_many_sessions_are_each_written_once(redis):
    runner, stage = await make_runner(redis)
    try:
        sessions = await owned(redis, runner, stage, 70)  # more than one COMMIT_MANY call holds
        await asyncio.gather(*(runner.commit(session, [audio(1)], consumed=session.read_id, boundary=True)
                               for _, session in sessions))
        for sk, _ in sessions:
            assert await forwarded(redis, sk) == [0, 1]
            assert (await redis.hget(sk.checkpoint("vad"), "state")) == b"1"
    finally:
        await runner.close()


async def test_commits_and_reads_go_on_after_redis_loses_its_scripts(redis):
    """The scripts go out as EVALSHA packed by bus.pack_command; a Redis that restarted
    empty answers NOSCRIPT, and the script is loaded and called again."""
    runner, stage = await make_runner(redis)
    try:
        [(sk, session)] = await owned(redis, runner, stage, 1)
        await redis.script_flush()
        assert await runner.commit_all([Write(session, [audio(1)])]) == [None]
        assert await forwarded(redis, sk) == [0, 1]
        await redis.script_flush()
        await send(redis, sk, 1)
        assert (await next_seen(stage))[1].seq == 1  # read through the READ script
    finally:
        await runner.close()


class GatedRecordingsStage(EchoStage):
    """:class:`EchoStage` that takes recordings apart from live sessions and holds each call
    of recordings until ``gate`` opens."""

    batch_apart = True

    def __init__(self, runner) -> None:
        super().__init__(runner)
        self.gate = asyncio.Event()
        self.holding = asyncio.Event()

    async def process(self, batch):
        assert len({session.config.batch for session, _ in batch}) == 1  # never both kinds in one call
        if batch[0][0].config.batch:
            self.holding.set()
            await self.gate.wait()
        await super().process(batch)


async def test_a_live_round_does_not_wait_for_a_recordings(redis):
    runner, stage = await make_runner(redis, stage=GatedRecordingsStage)
    try:
        recording = await new_session(redis, config=PipelineConfig(priority="batch").encode())
        await send(redis, recording, 0)
        await asyncio.wait_for(stage.holding.wait(), 10)  # the recording's call is under way, held
        live = await new_session(redis)
        await send(redis, live, 0)
        assert await next_seen(stage) == (live.session_id, Audio(seq=0, offset=0, pcm=b"\0\0" * 160))
        assert stage.seen.empty()
        stage.gate.set()
        assert (await next_seen(stage))[0] == recording.session_id
        assert runner.metrics.batch_size._sum.get() == 1  # the live call's step alone is a processing step
    finally:
        await runner.close()
