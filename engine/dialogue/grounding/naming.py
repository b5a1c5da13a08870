"""Whether a reply names a grounded item, and from whose side: :func:`mentions` (how well a
line names it), :func:`claims_as_own` ("I love plum wine" said back as the character's own)
and :func:`addresses_player`.
"""

from __future__ import annotations

import re

from engine.dialogue.grounding.item import Ground
from engine.dialogue.grounding.words import HAN_CHAR, pairs, terms

__all__ = ["addresses_player", "claims_as_own", "mentions", "names_player"]


def mentions(text: str, item: Ground) -> float:
    """How much of ``item`` a reply names: the share of its key terms it uses, 0..1."""
    if not item.keys:
        return 0.0
    named = (terms(text) | pairs(text)) & item.keys  # pairs: names of common characters
    found = len(named)
    if item.kind == "memory" and named and named <= item.weak:
        return 0.4  # "that tea is the best in town" does not remember jasmine tea
    # A remembered detail is named by one of its terms ("plum wine", "医生"); a knowledge
    # line needs two of its answer's terms ("stage ... eight"), or all when it has fewer.
    need = 1 if item.kind == "memory" else min(len(item.keys), 2)
    if item.kind == "knowledge":
        # Terms of a part the question does not point at answer nothing: "four in the
        # afternoon" for the morning ferry of "... at half past six in the morning and at four
        # in the afternoon".
        special = _distinctive(item) - item.weak
        if named & special:
            return 1.0  # the one term that answers it: "eight", "Friday", "七点"
        if special or found < need or named <= item.weak:
            # "Every week" for a stage that opens at eight; "my chest" for the blue chest
            # under the counter: near the answer, not the answer.
            return min(0.4, found / need)
    return min(1.0, found / need)


def _distinctive(item: Ground) -> set[str]:
    """Key terms that answer a question on their own: numbers, times, days, proper names
    (of the answering clause, not the line's first word)."""
    # ("一趟", "一个" count nothing: 一 there is an article, not the answer)
    found = {t for t in item.keys if re.search(r"\d|[二三四五六七八九十两百千]|一[块元岁号月]", t)}
    for word in re.findall(r"(?<=[\w,;] )[A-Z][a-z]+\b", item.said):
        found |= terms(word) & item.keys
    found |= item.keys & _NUMBER_WORDS
    return found


_FIRST_PERSON = re.compile(r"\b(I|I'm|I've|my|My|me|mine)\b|我")


def claims_as_own(text: str, player: str, item: Ground | None = None) -> bool:
    """Whether a reply speaks in the first person without speaking to the player ("I love plum
    wine" when the player said it): a small model often repeats the player's words as its own.

    With ``item``, the clause that names it decides ("Long story. I was a blacksmith up north
    before you came" claims the player's trade, though it says "you" elsewhere; "我是银行的").
    """
    if item is not None and item.keys:
        for clause in _CLAUSE_SPLIT.split(text):
            if terms(clause) & item.keys:
                if _FIRST_PERSON.search(clause) and not addresses_player(clause, player):
                    return True
    return _FIRST_PERSON.search(text) is not None and not addresses_player(text, player)


_CLAUSE_SPLIT = re.compile(
    r"[.!?;:,。！？；：，、]|\b(?:and|but|so|because|before|after|when|while|then)\b", re.IGNORECASE
)


def addresses_player(text: str, player: str) -> bool:
    """Whether a reply speaks to the player (you / 你 / their name) rather than about itself."""
    if names_player(text, player):
        return True
    if HAN_CHAR.search(text):
        spoken = re.sub(r"[你您]好", "", text)
        return "你" in spoken or "您" in spoken
    return re.search(r"\b(you|your|you're|yours)\b", text, re.IGNORECASE) is not None


def names_player(text: str, player: str) -> bool:
    """Whether ``text`` says the player's name: as a word of its own in a Latin script (Ada is
    not named in "Madam", nor Al in "also"), anywhere in Chinese (阿梅 in "阿梅姐")."""
    if not player.strip():
        return False
    if HAN_CHAR.search(player):
        return player in text
    return re.search(rf"(?<![\w'-]){re.escape(player)}(?![\w-])", text, re.IGNORECASE) is not None


_NUMBER_WORDS = frozenset(
    "two three four five six seven eight nine ten eleven twelve noon midnight dusk dawn "
    "monday tuesday wednesday thursday friday saturday sunday".split()
)
