"""One exception hierarchy for every streamscribe package."""


class StreamscribeError(Exception):
    """Base class of all errors raised on purpose by streamscribe."""


class ConfigError(StreamscribeError):
    """A setting, flag or client config is invalid; the message says which and why."""


class ProtocolError(StreamscribeError):
    """A client sent something the protocol does not allow.

    ``code`` is a short machine-readable reason sent to the client with the message.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class RecordError(StreamscribeError):
    """A bus record could not be decoded or failed validation."""


class LeaseLost(StreamscribeError):
    """This worker no longer holds the lease of a (session, stage); it must stop writing."""


class SessionGone(StreamscribeError):
    """The session's metadata is gone: the client left or the gateway died."""


class ModelError(StreamscribeError):
    """A model or engine could not be loaded; the message names the flag to set."""
