"""Group scenes: several characters and players in one conversation.

Who answers a line: the character addressed by name (any of its names, or its id, the earliest
mention wins); otherwise the most talkative character present, a little less eager when it
spoke last, ties broken by the order the scene lists them. Each character knows only what it
witnessed: a line said in a scene is stored for every character present (with everyone present
as witnesses) and never for a character elsewhere.

Example::

    scene = rt.scene(["mira", "bram"], players=["p1"])
    handle = scene.say("p1", "Bram, what do you sell?")   # Bram answers
    handle = scene.say("p1", "Nice evening!")             # the most talkative answers
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Protocol

from engine.errors import EngineError
from engine.persona.model import Persona
from engine.runtime.events import TurnHandle, TurnKind
from engine.text.script import is_cjk

__all__ = ["Scene", "SceneHost", "addressed", "choose_responder"]

#: How much less eager a character is to speak right after it spoke.
REPEAT_PENALTY = 0.3


def _mentions(text: str, name: str) -> int:
    """Where ``name`` is mentioned in ``text`` (-1 if not); Latin names match whole words."""
    if not name:
        return -1
    if any(is_cjk(c) for c in name):
        return text.find(name)
    m = re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", text, flags=re.IGNORECASE)
    return m.start() if m else -1


def addressed(text: str, characters: Mapping[str, Persona]) -> list[str]:
    """Ids of the characters ``text`` names, in order of first mention."""
    found: list[tuple[int, str]] = []
    for cid, persona in characters.items():
        names = {cid, persona.name, *persona.names.values()}
        # "陈掌柜" is also called "陈" or "掌柜" in passing; only full names count here.
        positions = [p for p in (_mentions(text, n) for n in names) if p >= 0]
        if positions:
            found.append((min(positions), cid))
    return [cid for _pos, cid in sorted(found)]


def choose_responder(
    text: str, characters: Mapping[str, Persona], *, last_speaker: str | None = None
) -> str:
    """The id of the character who answers ``text`` (see the module docs)."""
    if not characters:
        raise EngineError("a scene needs at least one character")
    named = addressed(text, characters)
    if named:
        return named[0]
    order = list(characters)

    def eagerness(cid: str) -> tuple[float, int]:
        score = characters[cid].personality.talkativeness
        if cid == last_speaker:
            score -= REPEAT_PENALTY
        return (score, -order.index(cid))

    return max(order, key=eagerness)


class SceneHost(Protocol):
    """What a scene needs of its :class:`~engine.runtime.core.Runtime` (which makes scenes)."""

    characters: dict[str, Persona]

    def _persona(self, character: str) -> Persona: ...

    def _submit(
        self,
        kind: TurnKind,
        character: str,
        player: str,
        text: str,
        *,
        player_name: str | None = None,
        scene_characters: Sequence[str] = (),
        scene_players: Sequence[str] = (),
    ) -> TurnHandle: ...


class Scene:
    """A group conversation on a :class:`~engine.runtime.core.Runtime`."""

    def __init__(
        self, runtime: SceneHost, characters: Sequence[str], players: Sequence[str] = ()
    ) -> None:
        if not characters:
            raise EngineError("a scene needs at least one character")
        self.runtime = runtime
        self.characters = list(dict.fromkeys(characters))
        self.players = list(dict.fromkeys(players))
        for cid in self.characters:
            runtime._persona(cid)  # fail early on an unknown id
        self.last_speaker: str | None = None

    def responder(self, text: str) -> str:
        """Who would answer ``text`` now."""
        personas = {cid: self.runtime.characters[cid] for cid in self.characters}
        return choose_responder(text, personas, last_speaker=self.last_speaker)

    def say(
        self, player: str, text: str, *, player_name: str | None = None, to: str | None = None
    ) -> TurnHandle:
        """``player`` says ``text`` to the scene; the responder (or ``to``) answers. Returns at once."""
        if player not in self.players:
            self.players.append(player)
        character = to or self.responder(text)
        if character not in self.characters:
            raise EngineError(f"{character!r} is not in this scene ({', '.join(self.characters)})")
        self.last_speaker = character
        return self.runtime._submit(
            "scene",
            character,
            player,
            text,
            player_name=player_name,
            scene_characters=[c for c in self.characters if c != character],
            scene_players=[p for p in self.players if p != player],
        )

    def join(self, character: str) -> None:
        """Bring another character into the scene (it witnesses lines from now on)."""
        self.runtime._persona(character)
        if character not in self.characters:
            self.characters.append(character)

    def leave(self, character: str) -> None:
        """A character walks off: it no longer hears or answers."""
        if character in self.characters and len(self.characters) > 1:
            self.characters.remove(character)
