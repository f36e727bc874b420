"""The official ``deepgram-sdk`` pointed at a local gateway, and a listener of its streams."""

from __future__ import annotations

import asyncio

from deepgram import AsyncDeepgramClient, DeepgramClientEnvironment
from websockets.exceptions import ConnectionClosed

from common.contract import from_deepgram, from_flux

from .contract import assert_contract

TIMEOUT = 120


def sdk_client(port: int, api_key: str = "test-key") -> AsyncDeepgramClient:
    """The SDK with its base URLs pointed at a local gateway."""
    environment = DeepgramClientEnvironment(base=f"http://127.0.0.1:{port}", production=f"ws://127.0.0.1:{port}",
                                            agent=f"ws://127.0.0.1:{port}", agent_rest=f"http://127.0.0.1:{port}")
    return AsyncDeepgramClient(api_key=api_key, environment=environment)


class Listener:
    """Collects what the SDK parses from one stream; waits on conditions with a deadline."""

    def __init__(self, socket) -> None:
        self.socket = socket
        self.messages: list = []
        self.closed: tuple[int | None, str] | None = None
        self._changed = asyncio.Condition()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            async for message in self.socket:
                async with self._changed:
                    self.messages.append(message)
                    self._changed.notify_all()
        except ConnectionClosed:
            pass
        finally:
            websocket = self.socket._websocket  # the SDK keeps the close code on its connection only
            async with self._changed:
                self.closed = (websocket.close_code, websocket.close_reason)
                self._changed.notify_all()

    async def wait(self, predicate, timeout: float = TIMEOUT):
        """The first message (from the start) for which ``predicate`` holds."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                while True:
                    found = next((m for m in self.messages if predicate(m)), None)
                    if found is not None:
                        return found
                    assert self.closed is None, f"closed {self.closed} before the expected message"
                    await self._changed.wait()

    async def wait_closed(self, timeout: float = TIMEOUT) -> tuple[int | None, str]:
        """The close code and reason, once closed; the stream's results (or Flux's turns) kept the
        transcript contract (interim results too, which ss:finals lacks)."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: self.closed is not None)
        # Results on /v1/listen, TurnInfo on Flux's /v2/listen: a stream has one or the other
        assert_contract(from_deepgram(self.messages) + from_flux(self.messages), "Deepgram stream")
        return self.closed

    def results(self, **match) -> list:
        return [m for m in self.messages if getattr(m, "type", None) == "Results"
                and all(getattr(m, k) == v for k, v in match.items())]

    def request_id(self) -> str:
        return self.socket._websocket.response_headers["dg-request-id"]
