"""The wire protocol: every message a socket carries and every HTTP body, as pydantic models.

These models are the one source of truth for the protocol. The OpenAPI document of the HTTP
routes and the JSON Schema of the socket messages (``docs/api/``) are generated from them
(:func:`socket_schema`), and :func:`event_message` turns each runtime event
(:mod:`engine.runtime.events`) into the message a client receives, so a socket carries the
same events as :meth:`engine.runtime.Runtime.poll`.

A socket session, in order::

    server  hello                                   once, after the socket is accepted
    client  say | greet | cancel | ping             any time
    server  started, (delta | sentence | warning)*, done | failed      per turn
    server  error                                   a refused message (the socket stays open)

Imports pydantic and the engine's records only; no web framework.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from engine.runtime.events import (
    Event,
    Sentence,
    TextDelta,
    TurnDone,
    TurnFailed,
    TurnStarted,
    TurnWarning,
)
from engine.types import Action, Fact, MemoryRecord, Relationship, Usage

__all__ = [
    "PROTOCOL_VERSION",
    "CancelMessage",
    "CharacterInfo",
    "ClientMessage",
    "DeltaMessage",
    "DoneMessage",
    "ErrorBody",
    "ErrorMessage",
    "FailedMessage",
    "GreetMessage",
    "HelloMessage",
    "PingMessage",
    "PongMessage",
    "SayMessage",
    "SentenceMessage",
    "ServerMessage",
    "StartedMessage",
    "TurnBody",
    "TurnOutcome",
    "WarningMessage",
    "client_message",
    "event_message",
    "socket_schema",
]

#: Bumped when a message changes in a way an old client would misread.
PROTOCOL_VERSION = 1

_STRICT = ConfigDict(extra="forbid")


# ----------------------------------------------------------------------------- client -> server


class SayMessage(BaseModel):
    """The player says a line to a character; the turn's messages follow."""

    model_config = _STRICT
    type: Literal["say"]
    character: str = Field(description="The character spoken to (an id from `hello.characters`).")
    text: str = Field(description="What the player says.")
    player_name: str | None = Field(None, description="The name the player goes by, if known.")
    ref: str | None = Field(
        None, max_length=64, description="Echoed in `started` so the client can match its request."
    )


class GreetMessage(BaseModel):
    """The character greets the player (first meeting, or by name with a remembered detail)."""

    model_config = _STRICT
    type: Literal["greet"]
    character: str = Field(description="The character who greets.")
    player_name: str | None = Field(None, description="The name the player goes by, if known.")
    ref: str | None = Field(None, max_length=64, description="Echoed in `started`.")


class CancelMessage(BaseModel):
    """Stop a turn of this session (the player walked away); its `failed` (cancelled) follows."""

    model_config = _STRICT
    type: Literal["cancel"]
    turn: int = Field(description="The turn id from `started`.")


class PingMessage(BaseModel):
    """Ask for a `pong` (keeps proxies from closing an idle socket)."""

    model_config = _STRICT
    type: Literal["ping"]


ClientMessage = Annotated[
    SayMessage | GreetMessage | CancelMessage | PingMessage, Field(discriminator="type")
]
_client_adapter: TypeAdapter[Any] = TypeAdapter(ClientMessage)


def client_message(raw: str | bytes) -> SayMessage | GreetMessage | CancelMessage | PingMessage:
    """Parse one message from a client; raises ``pydantic.ValidationError`` when it is not one."""
    message: SayMessage | GreetMessage | CancelMessage | PingMessage = (
        _client_adapter.validate_json(raw)
    )
    return message


# ----------------------------------------------------------------------------- server -> client


class Limits(BaseModel):
    """The limits this session runs under."""

    max_message_bytes: int = Field(description="Largest socket message or HTTP body accepted.")
    max_line_chars: int = Field(description="Longest player line, in characters.")
    max_concurrent_turns: int = Field(description="Turns one player may have running at once.")


class HelloMessage(BaseModel):
    """Sent once when the socket opens: who the session speaks as and to whom."""

    type: Literal["hello"] = "hello"
    protocol: int = Field(PROTOCOL_VERSION, description="The protocol version.")
    player: str = Field(description="The player this session speaks as.")
    characters: list[str] = Field(description="The characters this session may talk to.")
    limits: Limits


class StartedMessage(BaseModel):
    """A turn began (the character is thinking)."""

    type: Literal["started"] = "started"
    turn: int = Field(description="The turn's id; later messages of the turn carry it.")
    kind: Literal["say", "greet", "scene"] = Field(description="What started the turn.")
    character: str
    player: str
    ref: str | None = Field(None, description="The `ref` of the request that started it.")


class DeltaMessage(BaseModel):
    """Visible text to append to the reply shown so far."""

    type: Literal["delta"] = "delta"
    turn: int
    text: str


class SentenceMessage(BaseModel):
    """A whole sentence of the reply, for speech bubbles and text-to-speech."""

    type: Literal["sentence"] = "sentence"
    turn: int
    index: int = Field(description="Counts from 0 within the turn.")
    text: str


class WarningMessage(BaseModel):
    """Something was dropped or repaired (an unknown action, bad arguments, a cut reply)."""

    type: Literal["warning"] = "warning"
    turn: int
    message: str


class UsedMemory(BaseModel):
    """A memory the reply's prompt used, with its score."""

    id: int
    kind: str
    text: str
    score: float


class DoneMessage(BaseModel):
    """The turn finished: the final text, emotion, actions and relationship."""

    type: Literal["done"] = "done"
    turn: int
    character: str
    text: str = Field(description="The spoken reply, as the player saw it.")
    emotion: str = Field(description="One emotion from the persona's set.")
    emotion_strength: float = Field(description="How strongly it shows, 0..1.")
    actions: list[Action] = Field(description="Validated actions for the game to run.")
    relationship_delta: dict[str, float] = Field(description="The change this turn made.")
    relationship: Relationship | None = Field(description="The relationship after this turn.")
    usage: Usage
    fallback: bool = Field(description="True when the text is an authored line, not the model's.")
    memories: list[UsedMemory] = Field(description="Memories recalled for the prompt.")
    lore: list[str] = Field(description="Lore entries used.")
    sections: dict[str, int] = Field(description="Prompt section -> estimated tokens.")


class FailedMessage(BaseModel):
    """The turn failed or was cancelled; show `fallback_text` (an in-character line) if any."""

    type: Literal["failed"] = "failed"
    turn: int
    character: str
    reason: Literal["cancelled", "quota", "too_long", "timeout", "backend", "store", "internal"] = (
        Field(description="Why, in one word a game can branch on.")
    )
    error: str = Field(description="A message for logs.")
    fallback_text: str = Field(
        description="An in-character line to show instead ('' if cancelled)."
    )


class PongMessage(BaseModel):
    """The answer to `ping`."""

    type: Literal["pong"] = "pong"


class ErrorMessage(BaseModel):
    """A client message was refused; the socket stays open."""

    type: Literal["error"] = "error"
    code: str = Field(
        description="Machine-readable: bad_message, message_too_large, line_too_long, "
        "character_not_allowed, unknown_character, unknown_turn, "
        "too_many_turns, rate_limited, draining."
    )
    message: str
    ref: str | None = None


ServerMessage = Annotated[
    HelloMessage
    | StartedMessage
    | DeltaMessage
    | SentenceMessage
    | WarningMessage
    | DoneMessage
    | FailedMessage
    | PongMessage
    | ErrorMessage,
    Field(discriminator="type"),
]


def event_message(event: Event, ref: str | None = None) -> BaseModel | None:
    """The socket message for a runtime event (None for an event clients never see)."""
    if isinstance(event, TextDelta):
        return DeltaMessage(turn=event.handle_id, text=event.text)
    if isinstance(event, Sentence):
        return SentenceMessage(turn=event.handle_id, index=event.index, text=event.text)
    if isinstance(event, TurnStarted):
        return StartedMessage(
            turn=event.handle_id, kind=event.kind, character=event.character,
            player=event.player, ref=ref,
        )  # fmt: skip
    if isinstance(event, TurnWarning):
        return WarningMessage(turn=event.handle_id, message=event.message)
    if isinstance(event, TurnDone):
        r = event.result
        return DoneMessage(
            turn=event.handle_id,
            character=event.character,
            text=r.text,
            emotion=r.emotion,
            emotion_strength=r.emotion_strength,
            actions=r.actions,
            relationship_delta=r.relationship_delta,
            relationship=r.relationship,
            usage=r.usage,
            fallback=r.fallback,
            memories=[
                UsedMemory(
                    id=m.memory.id, kind=m.memory.kind, text=m.memory.text, score=m.score.total
                )
                for m in r.memories
            ],
            lore=r.lore,
            sections=r.sections,
        )
    if isinstance(event, TurnFailed):
        return FailedMessage(
            turn=event.handle_id, character=event.character, reason=event.reason.value,
            error=event.error, fallback_text=event.fallback_text,
        )  # fmt: skip
    return None


# ----------------------------------------------------------------------------- HTTP bodies


class ErrorBody(BaseModel):
    """Every 4xx and 5xx answer: a machine-readable code and a message."""

    code: str = Field(
        description="e.g. missing_credentials, bad_credentials, token_expired, "
        "wrong_player, character_not_allowed, key_required, rate_limited, "
        "too_many_turns, too_many_connections, body_too_large, line_too_long, "
        "unknown_character, not_found, invalid, draining."
    )
    message: str


class TurnBody(BaseModel):
    """``POST /v1/turns``: one turn, answered as one JSON object or streamed as SSE."""

    model_config = _STRICT
    character: str
    player: str | None = Field(
        None,
        description="Required with a server key; a player token "
        "implies its own player (another is refused).",
    )
    text: str = Field("", description="The player's line (ignored for a greeting).")
    kind: Literal["say", "greet"] = "say"
    player_name: str | None = None
    stream: bool = Field(
        False,
        description="Stream the turn's messages as Server-Sent Events "
        "(each event named by the message type, its data the message JSON).",
    )


class TurnOutcome(BaseModel):
    """The non-streaming answer of ``POST /v1/turns``: the turn's final message and sentences."""

    turn: int
    sentences: list[str]
    done: DoneMessage | None = Field(description="Set when the turn finished.")
    failed: FailedMessage | None = Field(description="Set when it failed (with a fallback line).")
    warnings: list[str]


class TokenBody(BaseModel):
    """``POST /v1/tokens``: mint a short-lived player token with a server key."""

    model_config = _STRICT
    player: str = Field(min_length=1, max_length=128)
    characters: list[str] | None = Field(None, description="Only these characters (None: all).")
    ttl_s: int = Field(900, ge=1, le=86_400, description="Lifetime in seconds.")


class TokenInfo(BaseModel):
    """A minted player token."""

    token: str
    player: str
    characters: list[str] | None
    expires_at: float = Field(description="Unix time after which it is refused.")


class CharacterInfo(BaseModel):
    """A character as a client lists it."""

    id: str
    name: str
    languages: list[str]
    emotions: list[str]
    actions: list[str]


class CharacterFile(BaseModel):
    """A character file's text, to validate or to save and reload."""

    model_config = _STRICT
    filename: str = Field(max_length=128, description="e.g. mira.yaml (.yaml, .yml, .json, .toml).")
    content: str


class FileProblem(BaseModel):
    """One problem in a character file."""

    line: int | None
    column: int | None
    field: str | None
    message: str
    suggestion: str | None


class ValidationReport(BaseModel):
    """The outcome of validating (and perhaps reloading) a character file."""

    ok: bool
    character: str | None = Field(description="The character's id when the file is valid.")
    reloaded: bool = False
    problems: list[FileProblem]


class PlayerMemories(BaseModel):
    memories: list[MemoryRecord]


class PlayerFacts(BaseModel):
    facts: list[Fact]


def socket_schema() -> dict[str, Any]:
    """The JSON Schema of the socket messages (both directions), committed as docs/api/socket.schema.json."""
    client = TypeAdapter(ClientMessage).json_schema(ref_template="#/$defs/{model}")
    server = TypeAdapter(ServerMessage).json_schema(ref_template="#/$defs/{model}")
    defs = {**client.pop("$defs", {}), **server.pop("$defs", {})}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "npc serve socket messages",
        "description": f"Protocol version {PROTOCOL_VERSION}. A client sends ClientMessage "
        "objects, the server sends ServerMessage objects, one JSON object per text frame.",
        "$defs": {**defs, "ClientMessage": client, "ServerMessage": server},
        "oneOf": [{"$ref": "#/$defs/ClientMessage"}, {"$ref": "#/$defs/ServerMessage"}],
    }
