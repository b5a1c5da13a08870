"""How close in meaning a player's line is to what a character knows: an embedder's cosine.

With an embedder (``Runtime(embedder=...)``), a turn asks :class:`Semantics` how similar the
player's line is to each of the character's knowledge and lore lines; the grounding
(:func:`engine.dialogue.grounding.ground`) fuses that with the words they share, so a
question asked in other words ("the big fellow hanging from the ceiling") still finds the
line that answers it ("the whale skeleton in the main hall").

It runs on the store thread, the one thread that calls the embedder during a turn. Vectors of
knowledge lines are kept (least recently used dropped beyond ``max_texts``) and made ahead of
time by :meth:`Semantics.warm`, queued at low priority when a character is first seen; a turn
embeds at most ``per_turn`` missing lines itself, so a character with a huge lorebook never
holds a turn up, and answers on words alone until its lines are in. A failing embedder costs
the similarity, never the turn.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from engine.memory.embeddings import Embedder
from engine.persona.model import Persona

__all__ = ["MAX_LINES", "Semantics", "knowledge_texts"]

log = logging.getLogger(__name__)

#: The most knowledge and lore lines of one character compared with a line.
MAX_LINES = 256


def knowledge_texts(persona: Persona) -> list[str]:
    """The lines a character's answers come from: its knowledge, then its lore entries."""
    texts = [k.strip() for k in persona.knowledge if k.strip()]
    texts += [e.content.strip() for e in persona.lore if e.content.strip()]
    return list(dict.fromkeys(texts))[:MAX_LINES]


class Semantics:
    """Cosine similarity between a line and a character's knowledge, through ``embedder``."""

    def __init__(self, embedder: Embedder, *, max_texts: int = 4096, per_turn: int = 8) -> None:
        self.embedder = embedder
        self.max_texts = max(1, int(max_texts))
        self.per_turn = max(0, int(per_turn))
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._failed = False

    def warm(self, texts: Sequence[str]) -> int:
        """Embed the ``texts`` not yet known; how many were embedded (0 after a failure)."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        return self._embed(missing[: self.max_texts])

    def similarity(self, query: str, texts: Sequence[str]) -> dict[str, float]:
        """The cosine between ``query`` and each of ``texts`` that has a vector (embedding up
        to ``per_turn`` missing ones now). Empty when the embedder fails or there is no query."""
        if not query.strip() or not texts or self._failed:
            return {}
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        self._embed(missing[: self.per_turn])
        q = self._query(query)
        if q is None:
            return {}
        out: dict[str, float] = {}
        for text in texts:
            vector = self._vectors.get(text)
            if vector is not None:
                self._vectors.move_to_end(text)
                out[text] = float(vector @ q)
        return out

    def _query(self, query: str) -> np.ndarray | None:
        vector = self._queries.get(query)
        if vector is not None:
            self._queries.move_to_end(query)
            return vector
        try:
            rows = np.asarray(self.embedder.embed([query], kind="query"), np.float64)
            vector = np.array(rows[0], dtype=np.float64)
        except Exception:  # an embedder's failure must not fail the turn
            log.warning("embedding a line for knowledge matching failed", exc_info=True)
            return None
        self._queries[query] = vector
        while len(self._queries) > 256:
            self._queries.popitem(last=False)
        return vector

    def _embed(self, texts: list[str]) -> int:
        if not texts or self._failed:
            return 0
        try:
            rows = np.asarray(self.embedder.embed(texts, kind="passage"), dtype=np.float64)
        except Exception:
            # A remote embedder that is down: stop asking for knowledge vectors (recall keeps
            # its own retries); words alone still ground the replies.
            log.warning("embedding knowledge lines failed; matching on words", exc_info=True)
            self._failed = True
            return 0
        for text, row in zip(texts, rows, strict=True):
            self._vectors[text] = row
        while len(self._vectors) > self.max_texts:
            self._vectors.popitem(last=False)
        return len(texts)
