"""The words a line is matched on: English words lightly stemmed, Chinese character bigrams
(and single characters, for knowledge), stopwords of both languages left out.
"""

from __future__ import annotations

import functools
import re

from engine.text.script import HAN

__all__ = [
    "COMMON_ZH",
    "HAN_CHAR",
    "NUMBER_WORD",
    "PERSON_ZH",
    "WORD",
    "chars",
    "pairs",
    "stem",
    "terms",
]

WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")

_CJK_RUN = re.compile(f"[{HAN}]+")

#: One Chinese character (the one definition: engine.text.script.HAN).
HAN_CHAR = re.compile(f"[{HAN}]")

#: A count in digits or English words, one to ninety-nine's tens ("turning eight", "is 40").
NUMBER_WORD = (
    r"\d{1,3}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen"
    r"|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty"
    r"|ninety"
)

#: A birthday's number as said: "seventy-fifth", "40th", "twenty-first".
ORDINAL = (
    r"(?:\d{1,3}(?:st|nd|rd|th)|(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)-?"
    r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)|(?:twen|thir|for|fif|six"
    r"|seven|eigh|nine)tieth|(?:thir|four|fif|six|seven|eigh|nine)teenth|tenth|eleventh|twelfth"
    r"|hundredth)"
)

#: Anyone a Chinese sentence may be about; one with none of them is about the one who says it
#: ("平时也没啥爱好，就爱杀两盘象棋", "老家四川南充的").
PERSON_ZH = re.compile(r"[我你您他她它咱俺]")

_STOP_EN = frozenset(
    """a an the and or but if of to in on at by for with from about as is are was were be been
    am do does did done have has had i i'm me my mine you you're your yours we our us he she it
    its they them their this that these those what which who whom whose when where why how there
    here can could would should will shall may might must not no yes so too very just also then
    than some any all more most much many one ones really know tell remember recall again ever
    still please hey hi hello oh ah well okay ok thing things like get got say said said let
    let's it's that's what's don't didn't i've i'd i'll you've you'd you'll got ask
    her hers him his herself himself myself yourself""".split()
)

# Characters that carry no topic on their own; a bigram holding one is not a term.
_STOP_ZH = frozenset("的了吗呢吧啊呀我你您他她它们是在有这那么什个吗嘛哦哪怎样")

# Adverbs and conjunctions that lead what they modify ("都喜欢", "也是", "还有") but end many
# names and words ("成都", "首都", "成就", "归还"): not a term when they open a bigram only.
_STOP_ZH_LEAD = frozenset("也都就还和与")


_VOWELS = frozenset("aeiou")


def stem(word: str) -> str:
    """A word's light stem, as :func:`terms` makes it: the forms of one word meet ("bakery",
    "baker", "baking", "baked" -> "bake"; "moved", "moving", "moves" -> "move"; "eating" ->
    "eat"; "dogs" -> "dog"; "babies", "baby" -> "babi"; "married" -> "marri"; "stopped" ->
    "stop"), and words that only look alike stay apart ("car" and "caring", "hop" and "hoping").
    """
    if len(word) > 5 and word.endswith("ery"):
        return word[:-2]  # "bakery" -> "bake", as "baker"
    if len(word) > 4 and word.endswith("er") and word[-3] not in _VOWELS:
        return word[:-1]  # "baker" -> "bake", "farmer" -> "farme" (as "farmers")
    if len(word) > 4 and word.endswith(("ies", "ied")):
        return word[:-2]  # "babies" -> "babi", as "baby"; "married" -> "marri", as "marry"
    if len(word) > 6 and word.endswith("ings"):
        word = word[:-1]  # "evenings" -> "evening", and on
    if len(word) > 4 and word.endswith("in") and word[-3] not in _VOWELS:
        word += "g"  # a dropped g: "takin", "runnin", "evenin" are "taking", "running", "evening"
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            if base.endswith("e") or not _VOWELS.intersection(
                base[:-1] + base[-1].replace("y", "a")
            ):
                break  # "speed", "agreed"; "string", "spring" (no vowel before the ending)
            return _restored(base)
    if len(word) > 4 and word.endswith(("shes", "ches", "xes", "sses", "zes")):
        return word[:-2]  # "dishes" -> "dish", "boxes" -> "box"
    if len(word) > 5 and word.endswith("oes"):
        return word[:-2]  # "potatoes" -> "potato" ("shoes" -> "shoe" below)
    if len(word) > 3 and word.endswith("s") and word[-2] not in "su'":
        word = word[:-1]  # "dogs" -> "dog", "moves" -> "move"; not "boss", "plus"
    if len(word) > 3 and word.endswith("y") and word[-2] not in _VOWELS:
        return word[:-1] + "i"  # "baby" -> "babi", as "babies"; "play" stays
    if len(word) > 3 and word.endswith("ie"):
        return word[:-1]  # "movie" -> "movi", as "movies"
    return word


def _restored(base: str) -> str:
    """What is left of a word once its "-ing" or "-ed" is cut, written as the word's own form:
    a doubled last consonant undoubled ("stopp" -> "stop"), an "e" put back after one short
    syllable ("mov" -> "move", "hik" -> "hike") or after "-at", "-bl", "-iz" ("relat")."""
    last = base[-1]
    if last == base[-2] and last not in _VOWELS and last not in "lsz":
        return base[:-1]
    if base.endswith("y") and len(base) > 3 and base[-2] not in _VOWELS:
        return base[:-1] + "i"  # "studying" -> "studi", as "study"
    if len(base) >= 5 and base[-2:] in ("at", "bl", "iz") and base[-3] not in _VOWELS:
        return base + "e"  # "related" -> "relate"; "treat", "float" stay
    groups = sum(
        1 for i, c in enumerate(base) if c in _VOWELS and (i == 0 or base[i - 1] not in _VOWELS)
    )
    if (
        groups == 1
        and last not in _VOWELS
        and last not in "wxy"
        and base[-2] in _VOWELS
        and (len(base) < 3 or base[-3] not in _VOWELS)
    ):
        return base + "e"  # "moving" -> "move", "hiked" -> "hike", "caring" -> "care"
    return base


def terms(text: str) -> set[str]:
    """Content terms of ``text``: stemmed English words and Chinese bigrams, stopwords removed."""
    return set(_terms(text))


# A turn grounds on the same earlier lines again and again (the last 60 turns): the terms and
# kinds of a line are worked out once, not on every turn (the event loop runs this).
@functools.lru_cache(maxsize=8192)
def _terms(text: str) -> frozenset[str]:
    low = text.lower()
    words = (w.removesuffix("'s") for w in WORD.findall(low))  # "sister's" -> "sister"
    # A form of a stopword is one too ("says", "asking").
    out = {s for w in words if w not in _STOP_EN and len(w) > 1 and (s := stem(w)) not in _STOP_EN}
    for run in _CJK_RUN.findall(text):
        if len(run) == 1:
            if run not in _STOP_ZH and run not in _STOP_ZH_LEAD:
                out.add(run)
            continue
        for i in range(len(run) - 1):
            pair = run[i : i + 2]
            if pair[0] not in _STOP_ZH and pair[0] not in _STOP_ZH_LEAD and pair[1] not in _STOP_ZH:
                out.add(pair)
    return frozenset(out)


@functools.lru_cache(maxsize=4096)
def pairs(text: str) -> frozenset[str]:
    """Every Chinese character bigram of ``text``, stopwords or not: how a name made of common
    characters ("钱有福", "李是") is matched, which :func:`terms` would leave out."""
    return frozenset(run[i : i + 2] for run in _CJK_RUN.findall(text) for i in range(len(run) - 1))


#: Characters too common in Chinese to tie a question to a line on their own ("好", "天").
COMMON_ZH = frozenset("一不人上下个天大小多少来去说要会能好看想很得着过到为子家年里时")


# Worked out once per knowledge line, as its word terms are (a turn compares every line).
@functools.lru_cache(maxsize=8192)
def chars(text: str) -> frozenset[str]:
    """The Chinese characters of ``text`` that carry a topic, as ``字:`` terms: "票" of "一张票"
    ties it to "戏票前排三十五块" where no two-character word is shared."""
    return frozenset(
        {
            f"字:{c}"
            for c in HAN_CHAR.findall(text)
            if c not in _STOP_ZH and c not in _STOP_ZH_LEAD and c not in COMMON_ZH
        }
    )
