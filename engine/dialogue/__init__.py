"""What is said: the prompt a backend receives, the reply format and its streaming parser, and
the heuristics that read a line without a model.

- :mod:`~engine.dialogue.prompt`: prompts as data (:class:`Prompt`, :class:`Section`) and
  :func:`assemble`, which builds one from a persona and what memory recalled;
- :mod:`~engine.dialogue.reply`: the ``<meta>`` reply format, :func:`parse_reply` and the
  :class:`ReplyStreamer` that turns streamed text into sentences;
- :mod:`~engine.dialogue.heuristics`: importance, facts, sentiment and summaries from text;
- :mod:`~engine.dialogue.facts`: how a stored fact about a player reads as a sentence.

Pure (data in, data out): may import :mod:`engine.types`, :mod:`engine.text`,
:mod:`engine.persona` and :mod:`engine.lore`; must not import memory, backends or runtime.
"""

from __future__ import annotations

from engine.dialogue.facts import fact_sentence
from engine.dialogue.prompt import (
    CUT_ORDER,
    SECTION_ORDER,
    Line,
    Message,
    Prompt,
    Section,
    assemble,
    reply_language,
)
from engine.dialogue.reply import (
    EMOTION_SYNONYMS,
    ParsedReply,
    ReplyStreamer,
    StreamPiece,
    normalise_emotion,
    parse_reply,
    render_meta,
)

__all__ = [
    "CUT_ORDER",
    "EMOTION_SYNONYMS",
    "SECTION_ORDER",
    "Line",
    "Message",
    "ParsedReply",
    "Prompt",
    "ReplyStreamer",
    "Section",
    "StreamPiece",
    "assemble",
    "fact_sentence",
    "normalise_emotion",
    "parse_reply",
    "render_meta",
    "reply_language",
]
