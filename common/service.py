"""Running a worker process: Redis, HTTP endpoints, signals and graceful drain."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from . import bus
from .http import HealthServer
from .errors import StreamscribeError
from .metrics import StageMetrics
from .runner import RunnerOptions, StageRunner
from .stage import Runner, Stage

log = logging.getLogger(__name__)


async def run_stage(build_stage: Callable[[Runner], Stage], *, redis_url: str, options: RunnerOptions,
                    registry: CollectorRegistry, http_host: str, http_port: int) -> None:
    """Serve the stage ``build_stage(runner)`` makes until SIGTERM/SIGINT, then drain:
    release leases so others take over. The stage's ``start`` runs first (a bad
    model fails here, before any session is taken) and its ``shutdown`` last."""
    redis = bus.connect(redis_url, client_name=f"streamscribe-{options.stage}")
    runner = StageRunner(redis, build_stage, options=options, metrics=StageMetrics(registry, options.stage))
    stage = runner.stage
    http = HealthServer(registry=registry, readiness=runner.readiness, host=http_host, port=http_port) \
        if http_port else None
    stop = asyncio.Event()
    try:
        await stage.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if http:
            await http.start()
        await runner.start()
        log.info("ready")
        serving = asyncio.create_task(runner.run())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if serving.done():
            serving.result()  # a loop failed: surface it
        log.info("draining: handing %d session(s) over", len(runner.sessions))
        await runner.drain()
        serving.cancel()
        stopping.cancel()
    finally:
        await runner.close()
        await stage.shutdown()
        if http:
            await http.close()
        await redis.aclose()
        log.info("stopped")


def run_main(prog: str, body: Callable[[], None]) -> int:
    """Run a service's ``main`` body: a configuration or model error is one clear line and exit 2."""
    try:
        body()
    except StreamscribeError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0
