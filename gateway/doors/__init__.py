"""The doors of the gateway: one module per protocol, routed by path here."""

from __future__ import annotations

from .audiohook import AudioHookDoor
from .base import Door
from .deepgram import DeepgramDoor
from .flux import FluxDoor
from .native import NativeDoor
from .rnnt import RnntDoor
from .twilio import TwilioDoor
from .whisper_stream import WhisperStreamDoor

ROUTES: dict[str, type[Door]] = {
    "/ws/asr": NativeDoor,
    "/v1/listen": DeepgramDoor,
    "/v2/listen": FluxDoor,
    "/twilio": TwilioDoor,
    "/audiohook": AudioHookDoor,
    "/ws/transcribe": RnntDoor,
    "/ws/stream": WhisperStreamDoor,
}


def door_for(path: str) -> type[Door] | None:
    """The door serving WebSocket ``path``, or None."""
    return ROUTES.get(path.rstrip("/") or "/")
