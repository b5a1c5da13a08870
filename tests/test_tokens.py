"""The token estimate: its documented rule, on any text."""

from __future__ import annotations

import math
import re

from hypothesis import given
from hypothesis import strategies as st

from engine.text.script import is_cjk
from engine.text.tokens import estimate_tokens

_CJK = re.compile(
    "[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]"
)
_WORD = re.compile(r"[A-Za-z0-9]+|[^\sA-Za-z0-9]")


def _by_the_rule(text: str) -> int:
    """One token per CJK character, ceil(n / 4) per Latin word or number of n characters,
    one per other symbol; white space is free."""
    total = len(_CJK.findall(text))
    for piece in _WORD.findall(_CJK.sub(" ", text)):
        total += max(1, math.ceil(len(piece) / 4))
    return total


_ALPHABET = "abcXYZ019 \t\n\r\u3000\u00a0\u2028，。、你好ーカ한éñЖ!?-_'\"😀\x00"


@given(st.text(alphabet=_ALPHABET, max_size=60) | st.text(max_size=60))
def test_the_estimate_follows_its_rule(text: str) -> None:
    assert estimate_tokens(text) == _by_the_rule(text)


def test_examples() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("Hello there, traveller!") == 9
    assert estimate_tokens("你好，旅人！") == 6
    assert estimate_tokens("antidisestablishment") == 5  # 20 letters, 4 a token
    assert estimate_tokens("a  b\t\nc") == 3
    assert is_cjk("好") and is_cjk("\u3000") and not is_cjk("a")
