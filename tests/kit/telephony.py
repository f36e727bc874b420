"""What telephony platforms send: μ-law audio, Twilio Media Streams messages, AudioHook messages."""

from __future__ import annotations

import base64
import json

import numpy as np

from gateway.doors.telephony import format_duration

STREAM_SID = "MZ18ad3ab5a668481ce02b83e7395059f0"
CALL_SID = "CA0123456789abcdef0123456789abcdef"
SESSION_ID = "e160e428-53e2-487c-977d-96989bf5c99d"


def mulaw_encode(samples: np.ndarray) -> bytes:
    """G.711 μ-law of float samples in [-1, 1] (the inverse of the gateway's decoding table)."""
    pcm = np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int32)
    sign = np.where(pcm < 0, 0x80, 0x00)
    magnitude = np.minimum(np.abs(pcm), 32635) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def twilio_start(tracks=("inbound", "outbound"), **parameters) -> str:
    return json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": STREAM_SID, "start": {
        "accountSid": "AC0123456789abcdef0123456789abcdef", "streamSid": STREAM_SID, "callSid": CALL_SID,
        "tracks": list(tracks), "customParameters": parameters,
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})


def twilio_media(track: str, chunk: int, timestamp: int, payload: bytes, sequence: int = 2) -> str:
    return json.dumps({"event": "media", "sequenceNumber": str(sequence), "streamSid": STREAM_SID, "media": {
        "track": track, "chunk": str(chunk), "timestamp": str(timestamp),
        "payload": base64.b64encode(payload).decode()}})


class AudioHookClient:
    """Builds client messages numbered the way Genesys numbers them."""

    def __init__(self, session_id: str = SESSION_ID) -> None:
        self.id = session_id
        self.seq = 0
        self.serverseq = 0
        self.position = 0.0

    def message(self, kind: str, parameters: dict | None = None, **fields) -> str:
        self.seq += 1
        body = {"version": "2", "id": self.id, "type": kind, "seq": self.seq, "serverseq": self.serverseq,
                "position": format_duration(round(self.position * 1000)), "parameters": parameters or {}}
        return json.dumps({**body, **fields})

    def open(self, media=None, language="en-US", supported_languages=None) -> str:
        """``supported_languages``: the open's ``supportedLanguages`` (None: not sent)."""
        media = media if media is not None else [
            {"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": 8000},
            {"type": "audio", "format": "PCMU", "channels": ["external"], "rate": 8000}]
        parameters = {
            "organizationId": "d7934305-0972-4844-938e-9060eef73d05",
            "conversationId": "090eaa2f-72fa-480a-83e0-8667ff89c0ec",
            "participant": {"id": "883efee8-3d6c-4537-b500-6d7ca4b92fa0", "ani": "+1-555-555-1234",
                            "aniName": "John Doe", "dnis": "+1-800-555-6789"},
            "media": media, "language": language}
        if supported_languages is not None:
            parameters["supportedLanguages"] = supported_languages
        return self.message("open", parameters)

    def seen(self, server_message: str | bytes) -> dict:
        body = json.loads(server_message)
        self.serverseq = body["seq"]
        return body
