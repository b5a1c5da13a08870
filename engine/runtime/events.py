"""What the runtime tells the game: turn handles, events and the result of a turn.

Events are small frozen dataclasses (cheap to create on the worker, cheap to read on the game
thread). Every event names its turn (``handle_id``), the ``character`` speaking and the
``player`` spoken to. A turn's events arrive in this order::

    TurnStarted, (TextDelta | Sentence | TurnWarning)*, TurnDone | TurnFailed

``TextDelta`` carries visible text as soon as it is safe to show (a token at a time, or a
checked sentence at a time when an output policy is active); ``Sentence`` carries each whole
sentence for speech bubbles and text-to-speech; ``TurnDone`` the final :class:`TurnResult`.
``TurnFailed`` means the model failed, timed out or the turn was cancelled; its
``fallback_text`` is an in-character line to show instead ('' for a cancelled turn).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.types import Action, Recalled, Relationship, Usage

__all__ = [
    "Event",
    "FailureReason",
    "Sentence",
    "TextDelta",
    "TurnDone",
    "TurnFailed",
    "TurnHandle",
    "TurnKind",
    "TurnResult",
    "TurnStarted",
    "TurnWarning",
]

TurnKind = Literal["say", "greet", "scene"]


class FailureReason(StrEnum):
    """Why a turn failed (:attr:`TurnFailed.reason`); each value equals its string."""

    CANCELLED = "cancelled"  #: the game or the player stopped it
    QUOTA = "quota"  #: the player's quota is spent
    TOO_LONG = "too_long"  #: the player's line or name is over its cap (docs/security.md)
    TIMEOUT = "timeout"  #: the model was too slow (first token, stall or total)
    BACKEND = "backend"  #: the model or its provider failed
    STORE = "store"  #: the world file failed
    INTERNAL = "internal"  #: a bug in the engine; the log has the traceback


_ids = itertools.count(1)


class TurnResult(BaseModel):
    """Everything a finished turn produced, for the game and for debugging panels."""

    model_config = ConfigDict(frozen=True)

    text: str = Field(description="The spoken reply, as the player saw it.")
    emotion: str = Field(description="One emotion from the persona's set.")
    emotion_strength: float = Field(0.5, ge=0, le=1, description="How strongly it shows, 0..1.")
    actions: list[Action] = Field(
        default_factory=list, description="Validated actions for the game to run."
    )
    relationship_delta: dict[str, float] = Field(
        default_factory=dict,
        description="The change this turn made (affinity, trust, familiarity).",
    )
    relationship: Relationship | None = Field(None, description="The relationship after this turn.")
    usage: Usage = Field(default_factory=Usage, description="Tokens and timing of the model call.")
    memories: list[Recalled] = Field(
        default_factory=list, description="Memories recalled for the prompt."
    )
    lore: list[str] = Field(
        default_factory=list, description="Names (or openings) of lore entries used."
    )
    sections: dict[str, int] = Field(
        default_factory=dict, description="Prompt section -> estimated tokens."
    )
    backend: str = Field("", description="The backend's name.")
    fallback: bool = Field(
        False, description="True when the text is an authored line, not the model's."
    )
    language: str | None = Field(None, description="The language the reply was asked for.")
    composed: bool = Field(
        False,
        description="True when the engine built the reply from a memory or knowledge line (or a "
        "fallback line) because no sampled reply named what was asked.",
    )


class TurnHandle:
    """Names one turn. Returned at once by ``say``/``greet``; the runtime fills in the outcome.

    ``done`` turns True when the turn's ``TurnDone`` or ``TurnFailed`` is queued; ``result``
    then holds the :class:`TurnResult` (None when it failed), ``error`` the failure and
    ``reason`` its :data:`FailureReason`.
    """

    __slots__ = (
        "_hash",
        "character",
        "done",
        "error",
        "fallback_text",
        "id",
        "kind",
        "player",
        "reason",
        "result",
        "text",
    )

    def __init__(self, character: str, player: str, text: str, kind: TurnKind = "say") -> None:
        self.id: int = next(_ids)
        self.character = character
        self.player = player
        self.text = text
        self.kind: TurnKind = kind
        self.done = False
        self.result: TurnResult | None = None
        self.error: str | None = None
        self.reason: FailureReason | None = None
        self.fallback_text: str | None = None
        self._hash = hash(self.id)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TurnHandle) and other.id == self.id

    def __repr__(self) -> str:
        state = "done" if self.done else "running"
        return f"<TurnHandle {self.id} {self.kind} {self.character}->{self.player} {state}>"


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every runtime event."""

    handle_id: int
    character: str
    player: str


@dataclass(frozen=True, slots=True)
class TurnStarted(Event):
    """The turn began (the character is 'thinking')."""

    kind: TurnKind = "say"


@dataclass(frozen=True, slots=True)
class TextDelta(Event):
    """Visible text to append to the reply shown so far."""

    text: str


@dataclass(frozen=True, slots=True)
class Sentence(Event):
    """A whole sentence of the reply (``index`` counts from 0)."""

    text: str
    index: int


@dataclass(frozen=True, slots=True)
class TurnWarning(Event):
    """Something was dropped or repaired (an unknown action, bad arguments, a cut reply)."""

    message: str


@dataclass(frozen=True, slots=True)
class TurnDone(Event):
    """The turn finished; ``result`` holds the text, emotion, actions and what was used."""

    result: TurnResult


@dataclass(frozen=True, slots=True)
class TurnFailed(Event):
    """The turn failed or was cancelled; show ``fallback_text`` (an in-character line) if any.

    ``reason`` says why in one word a game can branch on (:data:`FailureReason`); ``error`` is a
    message for logs; ``exception`` the engine error behind it (None when cancelled).
    """

    error: str
    fallback_text: str
    reason: FailureReason
    exception: BaseException | None = None


def is_final(event: Any) -> bool:
    """Whether ``event`` ends its turn."""
    return isinstance(event, TurnDone | TurnFailed)
