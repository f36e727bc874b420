"""A Python client of the gateway's native protocol (``/ws/asr``), as a library and a command.

    python -m streamscribe_client speech.wav   # or: streamscribe-client speech.wav
"""

from .client import StreamClosed, StreamscribeClient, file_frames, read_audio, stream

__all__ = ["StreamClosed", "StreamscribeClient", "file_frames", "read_audio", "stream"]
