"""Token estimation that works offline and counts Chinese fairly.

Exact tokenizers (tiktoken) download their tables at run time, so the engine estimates: a CJK
character is about one token in the vocabularies of current chat models, while Latin text runs
about four characters a token. The estimate errs on the high side so budgets hold.

>>> estimate_tokens("Hello there, traveller!")
9
>>> estimate_tokens("你好，旅人！")
6
"""

from __future__ import annotations

import functools
import re

from engine.text.script import CJK

__all__ = ["estimate_tokens"]


@functools.cache
def _cjk() -> re.Pattern[str]:
    """One token each: Chinese, Japanese and Korean characters and their punctuation (compiled
    at first use: a class this wide takes milliseconds to compile, which a command that never
    counts tokens need not pay)."""
    return re.compile(f"[{CJK}]")


# What costs a token once CJK is counted: every 4 characters of a Latin word or number (a
# greedy match takes a word 4 at a time, so a word of n characters matches ceil(n / 4) times),
# and every other symbol that is not white space.
_TOKEN = re.compile(r"[A-Za-z0-9]{1,4}|[^\sA-Za-z0-9]")


def estimate_tokens(text: str) -> int:
    """Estimate the tokens ``text`` costs in a typical chat model's vocabulary (never under)."""
    if not text:
        return 0
    # ~4 characters a token for words; every symbol is at least one.
    rest, cjk = _cjk().subn(" ", text)
    return cjk + len(_TOKEN.findall(rest))
