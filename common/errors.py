"""One exception hierarchy for every streamscribe package, and the error codes clients see."""

import enum


class ErrorCode(str, enum.Enum):
    """Machine-readable error codes sent to clients (``error.code`` on the native protocol).

    Doors may translate them into their platform's codes; the README lists them all.
    """

    BAD_JSON = "bad_json"  # a text message is not a JSON object
    CONFIG_REQUIRED = "config_required"  # the session must start with a config
    BAD_CONFIG = "bad_config"  # a config value is invalid
    BAD_AUDIO = "bad_audio"  # an audio frame cannot be decoded
    UNKNOWN_TYPE = "unknown_type"  # a message of a type the protocol does not have
    PROTOCOL = "protocol"  # a message out of order (e.g. a second config)
    NOT_FOUND = "not_found"  # no WebSocket endpoint at that path
    FORBIDDEN = "forbidden"  # a platform's request signature is missing or wrong
    OVERLOADED = "overloaded"  # no capacity for a new session; try again later
    UNAVAILABLE = "unavailable"  # the service cannot reach its queue
    TIMEOUT = "timeout"  # results did not complete in time after a close
    IDLE_TIMEOUT = "idle_timeout"  # no audio (or keep-alive) for too long: the session ends
    SESSION_LOST = "session_lost"  # the service lost the session's data
    SEQUENCE_GAP = "sequence_gap"  # a stage saw records missing from its input
    ASR_FAILED = "asr_failed"  # recognition of one utterance failed
    INTERNAL = "internal"  # a bug: the session ends

    def __str__(self) -> str:
        return self.value


class StreamscribeError(Exception):
    """Base class of all errors raised on purpose by streamscribe."""


class ConfigError(StreamscribeError):
    """A setting, flag or client config is invalid; the message says which and why."""


class ProtocolError(StreamscribeError):
    """A client sent something the protocol does not allow.

    ``code`` is a short machine-readable reason sent to the client with the message.
    """

    def __init__(self, code: ErrorCode | str, message: str) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)  # a code's value ("bad_audio") names it too


class RecordError(StreamscribeError):
    """A bus record could not be decoded or failed validation."""


class LeaseLost(StreamscribeError):
    """This worker no longer holds the lease of a (session, stage); it must stop writing."""


class SessionGone(StreamscribeError):
    """The session's metadata is gone: the client left or the gateway died."""


class BacklogFull(StreamscribeError):
    """A session's first stage has not worked off its input stream in time; more audio would be lost or unbounded."""


class ModelError(StreamscribeError):
    """A model or engine could not be loaded; the message names the flag to set."""
