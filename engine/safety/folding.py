"""The normalised copy of a text that the safety checks match on: NFKC (full-width to
half-width), invisible characters dropped, case folded, traditional Chinese mapped to
simplified, look-alike Cyrillic and Greek letters mapped to Latin, digits used as letters
(``s3x``) read as letters, letters spaced out (``s.e.x``, ``赌 博``) joined again.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache
from importlib import resources

from engine.text.script import HAN

__all__ = ["light_fold", "normalize"]


@cache
def _fold_table() -> dict[int, str]:
    """One ``str.translate`` table: traditional -> simplified Chinese and homoglyphs -> Latin."""
    table: dict[int, str] = {}
    text = resources.files("engine").joinpath("data/t2s.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        for pair in line.split():
            if len(pair) == 2:
                table[ord(pair[0])] = pair[1]
    for source, target in _HOMOGLYPHS.items():
        table[ord(source)] = target
    return table


# Cyrillic and Greek letters that look like Latin ones (lower case: matching happens after casefold).
_HOMOGLYPHS = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "ԁ": "d",
    "ɡ": "g", "һ": "h", "ӏ": "l", "ո": "n", "ս": "u",
    "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x", "ϲ": "c",
    # Armenian
    "օ": "o", "հ": "h", "ց": "g", "զ": "q", "ւ": "l", "ա": "w", "ք": "p", "ռ": "n",
    "ծ": "o",
    # Cherokee (casefold gives the capitals)
    "Ꭺ": "a", "Ᏼ": "b", "Ꮯ": "c", "Ꭰ": "d", "Ꭼ": "e", "Ꮐ": "g", "Ꮋ": "h", "Ꭵ": "i", "Ꭻ": "j",
    "Ꮶ": "k", "Ꮮ": "l", "Ꮇ": "m", "Ꮻ": "o", "Ꮲ": "p", "Ꭱ": "r", "Ꮪ": "s", "Ꮃ": "w",
    "Ꮤ": "w", "Ꮩ": "v", "Ꭹ": "y", "Ꮓ": "z", "Ꭲ": "t",
    # Latin small capitals (NFKC leaves them)
    "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ꜰ": "f", "ɢ": "g", "ʜ": "h", "ɪ": "i",
    "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r", "ꜱ": "s",
    "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
}  # fmt: skip

_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u206a-\u206f\ufeff]"
)


_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)

# A token mixing letters with digits or @/$ (``s3x``, ``c0caine``, ``$ex``); plain numbers are left alone.
_LEET_TOKEN = re.compile(r"(?<![\w@$])(?=[\w@$]*[a-z])(?=[\w@$]*[0-9@$])[\w@$]+")

# Three or more single letters or digits separated by 1-3 non-word characters, the same ones
# each time: ``s.e.x``, ``s e x``. (The same separator, so a one-letter word before spelled
# letters stays apart: "a c-a-s-i-n-o" is "a casino", not "acasino".)
_SPACED = re.compile(
    r"(?<![a-z0-9])[a-z0-9]((?:[^\w\n]|_){1,3})(?:[a-z0-9]\1)+[a-z0-9](?![a-z0-9])"
)

# Combining accents on a Latin letter (after NFD): ``casi\u0301no``, ``cásíno``.
_LATIN_MARKS = re.compile(r"(?<=[a-z])[\u0300-\u036f]+")

# Separators between two Chinese characters: ``赌 博``, ``赌.博``, ``赌*博``, or one Latin letter
# or digit slipped in: ``赌a博``.
# (Not colons: "助手：" must stay a speaker label for the injection guard.)
_CJK_GAP = re.compile(rf"(?<=[{HAN}])(?:(?:[^\w\n:]|_){{1,3}}|[a-z0-9])(?=[{HAN}])")

_SPACES = re.compile(r"[^\S\n]+")

_NEWLINES = re.compile(r" ?\n[\s]*")

# Full-width Latin letters, digits and the symbols injections use; Chinese punctuation (，。：) stays.
_HALF_WIDTH = {
    c: chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F) if chr(c) not in "，。：；！？（）"
}


def light_fold(text: str) -> str:
    """Invisible characters dropped, full-width Latin made half-width: what neutralised text is built from."""
    return _INVISIBLE.sub("", text).translate(_HALF_WIDTH)


@lru_cache(maxsize=512)
def normalize(text: str) -> str:
    """The copy of ``text`` that policies match against (line breaks kept, other runs of
    white space made one space).

    >>> normalize("Ｓ.Ｅ.Ｘ and 賭 博")
    'sex and 赌博'
    """
    folded = unicodedata.normalize("NFKC", light_fold(text)).casefold().translate(_fold_table())
    if not folded.isascii():
        folded = unicodedata.normalize(
            "NFC", _LATIN_MARKS.sub("", unicodedata.normalize("NFD", folded))
        )
    folded = _LEET_TOKEN.sub(lambda m: m.group(0).translate(_LEET), folded)
    folded = _SPACED.sub(lambda m: re.sub(r"[\W_]", "", m.group(0)), folded)
    folded = _CJK_GAP.sub("", folded)
    return _NEWLINES.sub("\n", _SPACES.sub(" ", folded)).strip()
