"""Errors raised by the LLM-backend layer.

All of them are :class:`pluralis.errors.PluralisError` subclasses, so callers that
already catch ``PluralisError`` keep working. Each carries the model name it is
about, so a failure can be recorded without extra bookkeeping.

==========================  =====================================================
error                       raised when
==========================  =====================================================
:class:`BackendError`       base class; also "could not connect", "backend missing"
:class:`BackendTimeout`     the per-call deadline (default 30 s, as PRISM) passed
:class:`BackendHTTPError`   the server answered with a non-2xx status
:class:`MalformedResponse`  the server answered 2xx but not with a chat completion
:class:`MessageError`       the messages passed in are not a valid chat
==========================  =====================================================
"""

from __future__ import annotations

from typing import Literal

from pluralis.errors import PluralisError

#: How a model call failed, as recorded in response sets (:class:`pluralis.llm.types.Failure`).
FailureKind = Literal["timeout", "http_error", "malformed", "other"]


class BackendError(PluralisError):
    """A model backend could not produce a response.

    Example
    -------
    >>> str(BackendError("connection refused", model="gpt-4"))
    "model 'gpt-4': connection refused"
    """

    #: The failure kind recorded in response sets (see :class:`pluralis.llm.types.Failure`).
    kind: FailureKind = "other"

    def __init__(self, message: str, *, model: str | None = None):
        self.model = model
        self.detail = message
        super().__init__(f"model {model!r}: {message}" if model else message)


class BackendTimeout(BackendError):
    """The call did not finish within its per-call timeout.

    Example
    -------
    >>> BackendTimeout("no answer within 30.0 s", model="m").kind
    'timeout'
    """

    kind = "timeout"


class BackendHTTPError(BackendError):
    """The server answered with an error status (or the connection failed).

    ``status_code`` is ``None`` when no HTTP answer came at all (connection refused/reset).

    Example
    -------
    >>> err = BackendHTTPError("HTTP 500: boom", model="m", status_code=500)
    >>> err.kind, err.status_code, err.retryable
    ('http_error', 500, True)
    """

    kind = "http_error"

    def __init__(self, message: str, *, model: str | None = None, status_code: int | None = None):
        super().__init__(message, model=model)
        self.status_code = status_code

    @property
    def retryable(self) -> bool:
        """429, 5xx and connection failures may succeed when tried again; 4xx will not.

        Example
        -------
        >>> BackendHTTPError("busy", status_code=429).retryable, BackendHTTPError("bad", status_code=400).retryable
        (True, False)
        """
        return self.status_code is None or self.status_code == 429 or self.status_code >= 500


class MalformedResponse(BackendError):
    """The server's 2xx answer was not valid JSON or not shaped like a chat completion.

    Example
    -------
    >>> MalformedResponse("body is not JSON: 'oops'", model="m").kind
    'malformed'
    """

    kind = "malformed"


class MessageError(PluralisError):
    """The chat messages given to a backend are invalid (wrong roles, missing content, ...).

    Example
    -------
    >>> str(MessageError("message 0: role must be one of system/user/assistant, got 'bot'"))
    "message 0: role must be one of system/user/assistant, got 'bot'"
    """
