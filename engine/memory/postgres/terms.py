"""Full-text terms for PostgreSQL, cut and stemmed in Python as SQLite's FTS5 index does.

The SQLite store indexes ``index_text`` output (jieba segments for Chinese) with FTS5's
``porter unicode61 remove_diacritics 2`` tokenizer. Here the same words
(:func:`engine.memory.text.index_words`) are folded, stripped of diacritics and stemmed with
the Porter algorithm in Python, and stored as a plain string of lexemes per column plus a
``tsvector`` of the player-prefixed lexemes (built as a literal, so PostgreSQL's own parser,
locale and stop words never touch them). Ranking is FTS5's bm25 over those lexemes
(:func:`bm25`), so both stores order a player's memories the same way.
"""

from __future__ import annotations

import functools
import math
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from engine.memory.text import index_words

__all__ = ["bm25", "lexemes", "tsquery_literal", "tsvector_literal"]

#: FTS5's bm25 constants.
K1 = 1.2
B = 0.75
#: PostgreSQL refuses a lexeme longer than 2047 bytes; such a word is kept in the column text
#: (it counts towards the row's length) but not in the searchable vector.
MAX_LEXEME_BYTES = 2000


@functools.lru_cache(maxsize=65536)
def _fold(word: str) -> str:
    lowered = word.lower()
    if lowered.isascii():
        return _stem(lowered)
    bare = "".join(c for c in unicodedata.normalize("NFD", lowered) if not unicodedata.combining(c))
    return _stem(unicodedata.normalize("NFC", bare))


def _stem(word: str) -> str:
    # FTS5's porter step leaves words shorter than 3 letters, or with anything but a-z, alone.
    if len(word) < 3 or len(word) > 64 or not (word.isascii() and word.isalpha()):
        return word
    return str(_stemmer().stemWord(word))


@functools.cache
def _stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("porter")


def lexemes(text: str) -> list[str]:
    """The lexemes FTS5 would index for ``text`` (already segmented by ``index_text``).

    >>> lexemes("My sister keeps bees")
    ['my', 'sister', 'keep', 'bee']
    """
    return [_fold(w) for w in index_words(text)]


def _quote(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(words: Iterable[str], prefix: str) -> str:
    """A ``tsvector`` literal of the distinct ``words``, each with the player's ``prefix``."""
    keep = {
        prefix + w for w in words if w and len(w.encode("utf-8")) + len(prefix) <= MAX_LEXEME_BYTES
    }
    return " ".join(_quote(w) for w in sorted(keep))


def tsquery_literal(terms: Sequence[str], prefix: str) -> str:
    """A ``tsquery`` literal OR-ing ``terms`` (lexemes), each with the player's ``prefix``.

    A word too long for PostgreSQL is left out (it was never indexed either); with none left
    the literal is empty."""
    return " | ".join(
        _quote(prefix + t)
        for t in terms
        if len(t.encode("utf-8")) + len(prefix) <= MAX_LEXEME_BYTES
    )


def bm25(
    columns: Sequence[str],
    weights: Sequence[float],
    terms: Sequence[str],
    hits: Sequence[int],
    rows: int,
    average_length: float,
    length: int | None = None,
) -> float:
    """FTS5's bm25 of one row (higher is better here; FTS5 returns it negated).

    ``columns`` are the row's lexeme strings (space-separated), ``weights`` their weights,
    ``length`` their lexemes in all (counted when not given); ``hits[i]`` is the number of rows
    holding ``terms[i]``; ``rows`` and ``average_length`` describe the index.

    >>> round(bm25(["", "bee keep bee", ""], [0.0, 1.0, 1.0], ["bee"], [1], 10, 3.0), 4)
    2.538
    """
    if length is None:
        length = sum(len(c.split()) for c in columns)
    # Each lexeme between double spaces, so ``str.count`` finds adjacent repeats too.
    padded = [
        " " + c.replace(" ", "  ") + " " if w else "" for c, w in zip(columns, weights, strict=True)
    ]
    norm = K1 * (1 - B + B * length / average_length) if average_length > 0 else K1
    score = 0.0
    for term, hit in zip(terms, hits, strict=True):
        needle = f" {term} "
        freq = 0.0
        for weight, column in zip(weights, padded, strict=True):
            if weight:
                freq += weight * column.count(needle)
        if not freq:
            continue
        idf = math.log((0.5 + rows - hit) / (0.5 + hit))
        if idf <= 0.0:
            idf = 1e-6
        score += idf * (freq * (K1 + 1.0)) / (freq + norm)
    return score
