"""Plain-text facts about a line: its script and language, its sentences, its token cost.

- :mod:`~engine.text.script`: the one definition of Chinese/Japanese/Korean script
  (:func:`is_cjk`, :func:`detect_language`);
- :mod:`~engine.text.sentences`: sentence boundaries in English and Chinese;
- :mod:`~engine.text.tokens`: an offline token estimate;
- :mod:`~engine.text.spelling`: chat typed without apostrophes or capitals written out
  (:func:`~engine.text.spelling.spelled_out`: "im rico" -> "I'm rico");
- :mod:`~engine.text.numbers`: the numbers a line states, digits, English words and Chinese
  numerals written one way (:func:`~engine.text.numbers.stated`);
- :mod:`~engine.text.patterns`: regular expressions from files and cards, compiled for a
  linear-time engine (RE2), so no pattern can freeze a turn;
- :mod:`~engine.text.alternatives`: the engine's own bilingual patterns searched with only the
  alternatives the scripts of a text let match (:func:`~engine.text.alternatives.by_script`).

Pure and at the bottom of the engine: imports only the standard library and ``google-re2``
(no engine module outside this package).
"""

from __future__ import annotations

from engine.text.script import CJK, HAN, UNSPACED, detect_language, is_cjk, is_han
from engine.text.sentences import split_sentences
from engine.text.tokens import estimate_tokens

__all__ = [
    "CJK",
    "HAN",
    "UNSPACED",
    "detect_language",
    "estimate_tokens",
    "is_cjk",
    "is_han",
    "split_sentences",
]
