"""Sentence boundaries in English and Chinese replies, for streaming sentence by sentence.

CJK terminators end a sentence at once; ASCII ones need a space (or a CJK character) after
them, and a '.' after an abbreviation or an initial ("Dr.", "e.g.", "J.") does not end one.
Closing quotes and brackets stay with their sentence.
"""

from __future__ import annotations

import re

from engine.text.script import is_cjk

__all__ = ["ends_at_abbreviation", "split_sentences"]

_CJK_TERMINATORS = "。！？…‼⁇⁈⁉"
_ASCII_TERMINATORS = ".!?"
TERMINATORS = _CJK_TERMINATORS + _ASCII_TERMINATORS + "．｡"
_CLOSERS = "\"'”’」』）)】》〉]»"
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st vs etc prof jr sr mt no e.g i.e cf approx dept est fig inc ltd co capt gen lt col sgt rev".split()
)


def ends_at_abbreviation(text: str) -> bool:
    """Whether ``text`` ends with a '.' that ends no sentence: "at St.", "Dr.", "J."."""
    return text.endswith(".") and not _is_boundary_word(text[:-1])


def _is_boundary_word(before: str) -> bool:
    """Whether the '.' after ``before`` ends a sentence (not 'Mr.', 'e.g.', an initial)."""
    m = re.search(r"([A-Za-z][A-Za-z.]*)$", before)
    if not m:
        return True
    word = m.group(1).lower().rstrip(".")
    if word in _ABBREVIATIONS:
        return False
    return not (len(word) == 1 and m.group(1)[0].isupper())


def find_boundary(text: str, start: int, final: bool) -> int | None:
    """The index just after the first sentence end at or after ``start``, or None."""
    i = start
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            if text[:i].strip():
                return i + 1
            i += 1
            continue
        if ch not in TERMINATORS:
            i += 1
            continue
        j = i
        while j < n and text[j] in TERMINATORS:
            j += 1
        while j < n and text[j] in _CLOSERS:
            j += 1
        if j >= n and not final:
            return None  # more punctuation or a closing quote may follow
        run = text[i:j]
        if any(c in _CJK_TERMINATORS or c in "．｡" for c in run):
            return j
        if j >= n:
            return j
        if not text[j].isspace() and not is_cjk(text[j]):
            i = j  # "3.14", "e.g.x", "...and": not an end
            continue
        if (
            run.startswith(".")
            and set(run.rstrip(_CLOSERS)) == {"."}
            and not _is_boundary_word(text[:i])
        ):
            i = j
            continue
        return j
    return None


def split_sentences(text: str) -> list[str]:
    """Split finished text into sentences (English and Chinese punctuation, closing quotes kept).

    >>> split_sentences("你好！我是陈掌柜。“要喝茶吗？”Dr. Li said so. OK")
    ['你好！', '我是陈掌柜。', '“要喝茶吗？”', 'Dr. Li said so.', 'OK']
    """
    out: list[str] = []
    rest = text
    while rest.strip():
        end = find_boundary(rest, 0, final=True)
        if end is None:
            out.append(rest.strip())
            break
        piece = rest[:end].strip()
        if piece:
            out.append(piece)
        rest = rest[end:]
    return out
