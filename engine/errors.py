"""One exception tree for the whole engine.

Every error the engine raises on purpose is a subclass of :class:`EngineError` and carries
the context a developer needs to act on it (file and line for persona errors, provider and
status for backend errors). Foreign exceptions (openai, httpx, sqlite3, yaml) are mapped at
the boundary with ``raise ... from exc``.

    EngineError
    ├── PersonaError                 a character file is invalid (path, line, column, field)
    │   └── TemplateError            ``extends:`` names a missing template, or templates loop
    ├── CardError                    a character card or lorebook cannot be read or written
    ├── StoreError                   the SQLite world file cannot be opened, migrated or used
    │   └── NotFoundError            a memory, fact or player id that is not stored
    ├── BackendError                 a language model call failed (provider, model, status, request_id)
    │   ├── BackendUnavailableError  connection refused, DNS, model file missing, package missing
    │   ├── BackendTimeoutError      connect, first-token or total timeout
    │   ├── RateLimitError           429 after the last retry (retry_after)
    │   ├── AuthenticationError      401 / 403, or no key in the environment
    │   ├── BadRequestError          400 / 404 / 422: the request itself is wrong
    │   ├── ServerError              5xx after the last retry
    │   ├── StreamError              the stream was cut or a chunk could not be parsed
    │   ├── StructuredOutputError    a structured (JSON) reply did not validate after repair
    │   └── ReplayMissError          a replayed backend has no recording for a request
    ├── PolicyError                  a safety policy is invalid
    ├── QuotaExceededError           a player's quota (questions, tokens, spend) is used up
    ├── InputTooLongError            a player's line or name is over its cap (refused before any work)
    └── RuntimeClosedError           the runtime was closed
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BackendError",
    "BackendTimeoutError",
    "BackendUnavailableError",
    "BadRequestError",
    "CardError",
    "EngineError",
    "InputTooLongError",
    "NotFoundError",
    "PersonaError",
    "PolicyError",
    "QuotaExceededError",
    "RateLimitError",
    "ReplayMissError",
    "RuntimeClosedError",
    "ServerError",
    "StoreError",
    "StreamError",
    "StructuredOutputError",
    "TemplateError",
]


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class PersonaError(EngineError):
    """A character file is invalid.

    ``str(error)`` reads ``path:line:column: field.path: message`` so editors and CI logs
    can jump to the spot.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        self.field = field
        self.suggestion = suggestion
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = self.path or "<persona>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        text = f"{where}: "
        if self.field:
            text += f"{self.field}: "
        text += self.message
        if self.suggestion:
            text += f" (did you mean '{self.suggestion}'?)"
        return text


class TemplateError(PersonaError):
    """``extends:`` names a template that does not exist, or templates extend each other in a loop."""


class CardError(EngineError):
    """A character card or lorebook could not be imported or exported."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.message = message
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class StoreError(EngineError):
    """The world's SQLite file could not be opened, migrated or written."""


class NotFoundError(StoreError):
    """A memory, fact, turn or player that the store does not hold."""


class BackendError(EngineError):
    """A language model call failed. Carries what is known of the call."""

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
    ) -> None:
        self.message = message
        self.provider = provider
        self.model = model
        self.status_code = status_code
        self.request_id = request_id
        super().__init__(self.__str__())

    def __str__(self) -> str:
        context = [
            f"{key}={value}"
            for key, value in (
                ("provider", self.provider),
                ("model", self.model),
                ("status", self.status_code),
                ("request_id", self.request_id),
            )
            if value is not None
        ]
        return f"{self.message} ({', '.join(context)})" if context else self.message


class BackendUnavailableError(BackendError):
    """The backend cannot be reached or loaded: connection refused, model file or package missing."""


class BackendTimeoutError(BackendError):
    """A connect, first-token or total timeout passed."""


class RateLimitError(BackendError):
    """The provider kept answering 429. ``retry_after`` is its last hint, in seconds."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, **context: object
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, **context)  # type: ignore[arg-type]


class AuthenticationError(BackendError):
    """401 or 403, or no API key in the environment variable the preset names."""


class BadRequestError(BackendError):
    """The provider refused the request itself (400, 404, 422): wrong model name, bad parameters."""


class ServerError(BackendError):
    """The provider kept failing with 5xx."""


class StreamError(BackendError):
    """A streamed response was cut off or held a chunk that could not be parsed."""


class StructuredOutputError(BackendError):
    """A structured reply did not validate against its schema, even after one repair attempt."""

    def __init__(self, message: str, *, raw: str | None = None, **context: object) -> None:
        self.raw = raw
        super().__init__(message, **context)  # type: ignore[arg-type]


class ReplayMissError(BackendError):
    """A replay backend holds no recording for a request."""

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        differing_section: str | None = None,
        **context: object,
    ) -> None:
        self.key = key
        self.differing_section = differing_section
        super().__init__(message, **context)  # type: ignore[arg-type]


class PolicyError(EngineError):
    """A safety policy is invalid (a bad pattern, an unknown rating)."""


class InputTooLongError(EngineError):
    """A player's line or display name is over its cap (``TurnSettings.max_line_chars``,
    ``max_name_chars``); ``length`` and ``limit`` are in characters."""

    def __init__(self, message: str, *, length: int, limit: int) -> None:
        self.length = length
        self.limit = limit
        super().__init__(message)


class QuotaExceededError(EngineError):
    """A player's quota is used up. ``kind`` is ``questions``, ``tokens`` or ``spend``."""

    def __init__(self, message: str, *, player: str | None = None, kind: str | None = None) -> None:
        self.player = player
        self.kind = kind
        super().__init__(message)


class RuntimeClosedError(EngineError):
    """The runtime was closed; no more turns can be submitted."""
