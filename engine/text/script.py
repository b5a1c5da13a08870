"""Which writing system a character or a line belongs to: one definition of "CJK" for the engine.

The ranges are written once here, and each use takes the class it needs:

- :data:`HAN`: Chinese characters (CJK Unified Ideographs, extension A, compatibility
  ideographs): telling Chinese from Latin (:func:`detect_language`), gaps inside Chinese words
  in the safety normaliser;
- :data:`CJK`: Chinese, Japanese and Korean script and their punctuation and full-width forms
  (:func:`is_cjk`): a character that costs a token of its own, a name matched without word
  boundaries, a sentence end without a following space;
- :data:`UNSPACED`: :data:`CJK` and the scripts of South-East Asia written without spaces
  between words (Thai, Lao, Myanmar, Khmer): where a lore key matches inside a run of text.

The constants are regular-expression class bodies (``f"[{HAN}]"``).

>>> is_cjk("茶"), is_cjk("a")
(True, False)
>>> detect_language("你好，旅人"), detect_language("Hello there"), detect_language("42!")
('zh', 'en', None)
"""

from __future__ import annotations

__all__ = ["CJK", "HAN", "UNSPACED", "detect_language", "is_cjk", "is_han"]

#: Chinese characters: CJK Unified Ideographs extension A, the main block, compatibility ideographs.
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_KANA = "\u3040-\u30ff"  # Hiragana and Katakana
_HANGUL = "\uac00-\ud7af"  # Hangul syllables
_CJK_MARKS = "\u3000-\u303f\uff00-\uffef"  # CJK punctuation, full-width and half-width forms
_SOUTH_EAST_ASIAN = "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff"  # Thai, Lao, Myanmar, Khmer

#: Chinese, Japanese and Korean script, their punctuation and full-width forms.
CJK = f"{_CJK_MARKS}{_KANA}{HAN}{_HANGUL}"
#: Scripts written without spaces between words: :data:`CJK` and Thai, Lao, Myanmar, Khmer.
UNSPACED = f"{CJK}{_SOUTH_EAST_ASIAN}"


def _code_ranges(body: str) -> tuple[tuple[int, int], ...]:
    """The code point ranges of a class body made of ``a-b`` pairs."""
    return tuple((ord(body[i]), ord(body[i + 2])) for i in range(0, len(body), 3))


# Single characters are tested against the ranges directly: compiling a class this wide costs
# Python's regex compiler a loop over every code point in it (milliseconds at import).
_CJK_CODES = _code_ranges(CJK)
_HAN_CODES = _code_ranges(HAN)


def is_cjk(char: str) -> bool:
    """Whether a single character is Chinese, Japanese or Korean script or punctuation."""
    if not char:
        return False
    code = ord(char[0])
    return any(low <= code <= high for low, high in _CJK_CODES)


def is_han(char: str) -> bool:
    """Whether a single character is a Chinese character."""
    if not char:
        return False
    code = ord(char[0])
    return any(low <= code <= high for low, high in _HAN_CODES)


def detect_language(text: str) -> str | None:
    """'zh' when a line is mostly Chinese characters, 'en' when mostly Latin letters, else None."""
    han = sum(1 for c in text if is_han(c))
    latin = sum(1 for c in text if c.isascii() and c.isalpha())
    if han == 0 and latin == 0:
        return None
    return "zh" if han * 2 >= latin else "en"
