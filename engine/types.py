"""Leaf records shared across packages: what the memory store returns, the action a reply
carries, the token usage of a model call.

Pure data (pydantic models and literals), importing nothing from the engine, so any package
may import it. Times are floats: seconds (wall-clock epoch or game time).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "MAX_CALL_TOKENS",
    "Action",
    "Fact",
    "MemoryKind",
    "MemoryRecord",
    "Recalled",
    "Relationship",
    "ScoreBreakdown",
    "Summary",
    "TurnRecord",
    "Usage",
    "reported_count",
]

MemoryKind = Literal["observation", "summary", "reflection", "event"]


class TurnRecord(BaseModel):
    """One line of dialogue as stored."""

    id: int
    character: str
    player: str
    speaker: str = Field(
        description="Who said it: the player's id, the character's id, or another id."
    )
    text: str
    time: float
    session: str | None = None


class MemoryRecord(BaseModel):
    """A memory a character holds about a player."""

    id: int
    character: str
    player: str
    kind: MemoryKind
    text: str
    importance: float = Field(ge=1, le=10)
    created: float
    last_accessed: float
    turn_ids: list[int] = Field(default_factory=list, description="Turns this memory came from.")
    present: list[str] = Field(
        default_factory=list, description="Who witnessed it (character and player ids)."
    )
    speaker: str = Field(
        "", description="Who said it, for memories of a dialogue line (else empty)."
    )


class ScoreBreakdown(BaseModel):
    """Why a memory came back: each part in 0..1, and the weighted total."""

    relevance: float
    recency: float
    importance: float
    lexical: float = 0.0
    semantic: float = 0.0
    total: float


class Recalled(BaseModel):
    """A recalled memory with its score breakdown."""

    memory: MemoryRecord
    score: ScoreBreakdown


class Fact(BaseModel):
    """A fact about the player (subject, predicate, object). Superseded facts are kept, not deleted."""

    id: int
    character: str
    player: str
    subject: str
    predicate: str
    object: str
    confidence: float = Field(ge=0, le=1)
    source_turns: list[int] = Field(default_factory=list)
    created: float
    superseded_by: int | None = None


class Relationship(BaseModel):
    """Relationship numbers between a character and a player, and the stage derived from them."""

    character: str
    player: str
    affinity: float = 0.0
    trust: float = 0.0
    familiarity: float = 0.0
    stage: str = "stranger"
    turns: int = 0
    updated: float = 0.0


class Summary(BaseModel):
    """A rolling summary of older turns, tied to the turn ids it covers."""

    character: str
    player: str
    text: str
    turn_ids: list[int]
    updated: float


class Action(BaseModel):
    """An action the character takes; the game executes it. Arguments are already validated."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="An action name from the persona's `actions`.")
    args: dict[str, Any] = Field(default_factory=dict, description="Arguments by parameter name.")


#: The most tokens one call may report (in or out): far beyond any context window, far below
#: what SQLite's 64-bit integers or a price multiplication could overflow on.
MAX_CALL_TOKENS = 10**9


def reported_count(value: object) -> int | None:
    """A token count a provider reported, or None when it is not a sane one (negative, above
    :data:`MAX_CALL_TOKENS`, fractional, not a number): the caller then uses its estimate."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    count = int(value)
    return count if 0 <= count <= MAX_CALL_TOKENS else None


class Usage(BaseModel):
    """Token usage and timing of one call. Counts are whole numbers from 0 to
    :data:`MAX_CALL_TOKENS`; times are finite and not negative."""

    prompt_tokens: int = Field(0, ge=0, le=MAX_CALL_TOKENS)
    completion_tokens: int = Field(0, ge=0, le=MAX_CALL_TOKENS)
    model: str = ""
    latency_ms: float = Field(0.0, ge=0, allow_inf_nan=False)
    ttft_ms: float | None = Field(None, ge=0, allow_inf_nan=False)
    estimated: bool = Field(
        False, description="True when counts are estimates, not the provider's."
    )

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
