"""What a turn runs with: the settings, the store access, the shared environment and the request.

Split from :mod:`engine.runtime.turn` (which re-exports all of it) so that modules the turn uses, such
as :mod:`engine.runtime.analysis`, can name these types without importing the turn itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from engine.backends.base import Backend
from engine.lore import Lorebook
from engine.memory.store import MemoryStore
from engine.metering import Meter
from engine.persona.model import Persona
from engine.runtime.events import Event, TurnHandle
from engine.runtime.safety_gate import SafetyGate
from engine.runtime.semantics import Semantics
from engine.types import Fact, Recalled, Relationship, TurnRecord

__all__ = [
    "BACKGROUND",
    "FOREGROUND",
    "QUERY",
    "WRITE",
    "StoreAccess",
    "TurnEnv",
    "TurnRequest",
    "TurnSettings",
]

log = logging.getLogger("engine.runtime.turn")

T = TypeVar("T")

#: Store-thread priorities: what a turn must read before calling the model goes first, then
#: the turns' writes, then the game's queries, then background work.
FOREGROUND = 0
WRITE = 1
QUERY = 5
BACKGROUND = 10


@dataclass
class TurnSettings:
    """Timeouts, sizes and the thresholds of the work done after a reply."""

    first_token_timeout: float = 30.0
    """Seconds from the request to the first streamed text."""
    stall_timeout: float = 20.0
    """Longest silence between two streamed chunks (a stall is noticed within 5%, at most 1 s,
    after this)."""
    total_timeout: float = 120.0
    """Longest a whole reply may take."""
    max_line_chars: int = 2000
    """Longest player line, in characters. A longer one is refused at once (``TurnFailed`` with
    ``error`` ``"too_long: ..."`` and an in-character ``fallback_text``), before any per-line
    work: no safety screening, segmentation, storage or model call, so one paste cannot hold
    other players' turns."""
    max_name_chars: int = 64
    """Longest ``player_name``, in characters; a longer one is refused like a long line."""
    recall_k: int = 6
    """Memories recalled per turn."""
    history_lines: int = 12
    """Recent lines of the conversation put in the prompt."""
    reply_tokens: int = 256
    """Tokens kept free for the reply when the persona sets no ``max_tokens``."""
    lore_share: float = 0.15
    """Share of the prompt budget lore may take."""
    summary_keep_recent: int = 12
    """Lines kept verbatim (not summarised) at the end of a conversation."""
    summary_every: int = 16
    """Summarise once this many older lines are not yet in the summary."""
    summary_batch: int = 64
    """Most older lines folded into the summary at once (the oldest first): a long history
    imported or left unsummarised is summarised over several turns, never in one prompt."""
    reflect_at: float = 100.0
    """Reflect once the importance of observations since the last reflection sums to this."""
    analysis_timeout: float = 30.0
    """Longest a background ``complete_json`` call may take before heuristics are used."""
    background_calls: int = 2
    """Background model calls at once (they share the backend with dialogue)."""
    background_yield: float = 2.0
    """Seconds a background model call waits for dialogue to go quiet before it goes anyway."""
    background_backlog: int = 64
    """Background model calls allowed to wait; beyond that, heuristics are used at once."""
    candidates: int = 3
    """Replies sampled from a base model (a backend in completion mode) per turn, the best one
    shown (see engine.dialogue.choice); 1 streams the first as it comes. Chat backends always stream one."""
    analysis: Literal["auto", "model", "heuristic"] = "auto"
    """How the work after a reply is done. ``auto``: through ``complete_json`` when the backend
    is a model (``capabilities.kind == "model"``) with structured output, or a replay whose
    recording holds such calls (it follows its recording), heuristics otherwise.
    ``heuristic`` keeps a single embedded model free for dialogue."""


class StoreAccess(Protocol):
    """Runs functions of the :class:`MemoryStore` on the thread that owns it."""

    def run(self, fn: Callable[[MemoryStore], T], *, priority: int = FOREGROUND) -> Awaitable[T]:
        """Await ``fn(store)``."""
        ...

    def submit(
        self, fn: Callable[[MemoryStore], T], *, priority: int = FOREGROUND, group: bool = False
    ) -> Future[T]:
        """Queue ``fn(store)`` without waiting (its result is a concurrent Future).

        ``group=True``: ``fn`` writes only through the store, so it may share one transaction
        (one commit) with other such writes queued next to it.
        """
        ...


# ============================================================================================
# What a turn needs


@dataclass
class TurnEnv:
    """What every turn shares: the backend, the store thread, the semaphore, settings."""

    backend: Backend
    store: StoreAccess
    semaphore: asyncio.Semaphore
    personas: Mapping[str, Persona]
    settings: TurnSettings = field(default_factory=TurnSettings)
    safety: SafetyGate = field(default_factory=SafetyGate)
    meter: Meter | None = None
    semantics: Semantics | None = None
    """Similarity of a line to the characters' knowledge, with an embedder (else None)."""
    clock: Callable[[], float] = time.time
    spawn: Callable[[Coroutine[Any, Any, None]], None] | None = None
    generating: int = 0
    """Replies being generated right now."""
    quiet: asyncio.Event = field(default_factory=asyncio.Event)
    """Set while no reply is being generated: background model calls wait for it."""
    background_waiting: int = 0
    background_semaphore: asyncio.Semaphore | None = None

    _replay_analysed: bool | None = field(default=None, init=False, repr=False)
    _lorebooks: dict[int, tuple[Persona, Lorebook]] = field(
        default_factory=dict, init=False, repr=False
    )

    def lorebook(self, persona: Persona) -> Lorebook:
        """The persona's lore as a book with an imported card's own settings (scan depth,
        token budget, recursion; see :func:`engine.cards.persona_lorebook`), cached."""
        cached = self._lorebooks.get(id(persona))
        if cached is not None and cached[0] is persona:
            return cached[1]
        from engine.cards import persona_lorebook

        book = persona_lorebook(persona)
        self._lorebooks[id(persona)] = (persona, book)
        return book

    @property
    def capable(self) -> bool:
        """Whether background work asks the model (see :attr:`TurnSettings.analysis`).

        A replay (``capabilities.kind == "replay"``) follows its recording: it asks for the
        analysis exactly when the recorded run did, i.e. when the recording holds
        ``complete_json`` calls, so a replayed playthrough remembers the same facts and builds
        the same prompts as the run it was recorded from.
        """
        if self.settings.analysis != "auto":
            return self.settings.analysis == "model"
        caps = self.backend.capabilities
        if caps.kind == "replay":
            if self._replay_analysed is None:
                self._replay_analysed = _recording_analysed(self.backend)
            return self._replay_analysed and caps.structured != "none"
        return caps.kind == "model" and caps.structured != "none"


def _recording_analysed(backend: Backend) -> bool:
    """Whether the recording a replay backend serves holds any ``complete_json`` call.

    Read from the recording's own file (``backend.path``, JSON lines with a ``kind`` per call);
    a replay without a readable file is taken to have recorded none.
    """
    path = getattr(backend, "path", None)
    if path is None:
        return False
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if '"kind"' not in line:
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and entry.get("kind") == "json":
                    return True
    except OSError as exc:
        log.warning("could not read the recording %s: %s", path, exc)
    return False


@dataclass
class TurnRequest:
    """One turn to run."""

    handle: TurnHandle
    persona: Persona
    text: str
    emit: Callable[[Event], None]
    player_name: str | None = None
    scene_characters: tuple[str, ...] = ()
    """Other characters present (group scenes); they witness both lines."""
    scene_players: tuple[str, ...] = ()
    """Other players present (group scenes); the lines go into their conversations too."""

    @property
    def character(self) -> str:
        return self.handle.character

    @property
    def player(self) -> str:
        return self.handle.player

    @property
    def present(self) -> list[str] | None:
        if not self.scene_characters and not self.scene_players:
            return None
        return [self.character, self.player, *self.scene_characters, *self.scene_players]


@dataclass
class Context:
    name: str | None
    met: bool
    recent: list[TurnRecord]
    recalled: list[Recalled]
    facts: list[Fact]
    relationship: Relationship
    summary: str | None
    labels: dict[str, str]
    turn_id: int | None = None
    said: list[str] = field(default_factory=list)
    """The player's own lines of the last ``engine.runtime.turn.SAID_WINDOW`` turns, oldest first (for grounding)."""
    similarity: dict[str, float] = field(default_factory=dict)
    """The line's similarity in meaning to each of the character's knowledge and lore lines
    (see :mod:`engine.runtime.semantics`); empty without an embedder."""
