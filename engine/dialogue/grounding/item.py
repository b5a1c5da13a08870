""":class:`Ground`: one thing a reply can be grounded on (a remembered statement or a knowledge
line), with the words that show a reply names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Ground"]


@dataclass(frozen=True)
class Ground:
    """One thing a reply can be grounded on."""

    kind: Literal["memory", "knowledge"]
    note: str
    """As the prompt states it (a memory in third person: "Ada is a blacksmith")."""
    said: str
    """As the character would say it to the player (a memory in second person)."""
    keys: frozenset[str] = field(default_factory=frozenset)
    """Terms a reply must share to count as naming it."""
    score: float = 0.0
    """Relevance to the line being answered."""
    asked: bool = False
    """The line asks about it: a reply that does not name it misses the question."""
    heard: bool = False
    """Said in the line being answered ("I'm a blacksmith from the north"): news, not memory."""
    weak: frozenset[str] = field(default_factory=frozenset)
    """Key terms that do not name it on their own: of a memory, the head of a detail ("tea" of
    "jasmine tea", "wine" of "plum wine"), which any talk of tea or wine would use; of a
    knowledge line, the terms of the parts the question does not point at ("four in the
    afternoon" when the morning ferry is asked)."""
