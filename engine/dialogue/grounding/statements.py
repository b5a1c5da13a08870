"""Which of the player's sentences tell something about themselves: the sentences that tell
rather than ask, a question tagged on cut off, a sentence that points back kept with the one it
points at, a name called out read as whose name it is, and the reason given after a statement.
What each statement tells is :mod:`engine.dialogue.grounding.told`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence

from engine.dialogue import heuristics
from engine.dialogue.grounding.asking import is_question
from engine.dialogue.grounding.related import NAMED_KINDS, related
from engine.dialogue.grounding.words import HAN_CHAR
from engine.text.sentences import ends_at_abbreviation
from engine.text.spelling import spelled_out

__all__ = [
    "is_statement",
    "reason_after",
    "sentences",
    "statements",
    "without_address",
]

# Names in the sentences around one (what joins a name to the sentence it belongs to).
_KIN_OF_THE_NAME = re.compile(r"^\W*(?:she|he)(?:'s| is) (?:my|our) [a-z]+", re.IGNORECASE)
# A name near the end of a sentence, not the word opening it.
_NAMED_IN = re.compile(r"(?<![.!?]\s)(?<!^)\b(?!I\b)[A-Z][a-z]{1,14}\b[^.!?]{0,25}[.!]?\s*$")
# A name said on its own after a sentence naming one of the family or a pet ("We've got a
# cat with one eye. Pirate, obviously."): whose name it is.
_NAME_FRAGMENT = re.compile(r"^\W*([A-Z][a-z]{1,14})(?:,\s*[a-z]+)?\s*[.!]?$")
# A name and "he" or "she" for the same one: "Isla, she's four", "if Waffles was here he'd ...".
_NAMED_BY_PRONOUN = re.compile(
    r"^\W*([A-Z][a-z]{1,14}), (?:she|he)\b|\b(?!I\b)([A-Z][a-z]{1,14})\b[^.!?]{0,30}\b(?:she|he)(?:'[sd]|\b)"
)


# ("下礼拜三，五月二十号，我生日！" stays one: "我生日！" is no clause of its own)
_CLAUSE = re.compile(
    r"(?<=[.!?。！？；;])\s*|,?\s+and\s+(?=(?:I|I'm|my|My)\b)|[，,]\s*(?=我[\u4e00-\u9fff]{3})"
)


def sentences(lines: Iterable[str]) -> list[str]:
    """Sentences and first-person clauses ("..., and my favourite drink is plum wine")."""
    out: dict[str, None] = {}
    for line in lines:
        out.update(dict.fromkeys(_clauses(line)))
    return list(out)


@functools.lru_cache(maxsize=4096)
def _clauses(line: str) -> tuple[str, ...]:
    out: list[str] = []
    for part in (part.strip() for part in _CLAUSE.split(line.strip())):
        if not part:
            continue
        if out and ends_at_abbreviation(out[-1]):
            out[-1] = f"{out[-1]} {part}"  # "a nurse at St. Francis" is one clause
        else:
            out.append(part)
    return tuple(out)


_QUESTION_WORD_ZH = r"什么|啥|么子|哪|谁|怎么|咋|几|多少|为什么|多大|多久"

# A sentence that asks or dares rather than tells ("Guess what I'm drinking.", "你猜我喝的是啥。").
_ASKS_RATHER = re.compile(
    r"^\W*(?:tell me|remind me|guess|bet you|go on)\b|你猜|您猜|猜猜|考考",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=4096)
def is_statement(sentence: str) -> bool:
    """A sentence in which the player says something about themselves (not a question)."""
    if sentence.rstrip().endswith(("?", "？")) or re.search(r"吗\s*[。！]?$", sentence):
        return False
    # "呢" ends a question that has a question word ("你猜我老家是哪儿的呢"); without one it
    # only stresses a statement ("小时候我爸还带我来你这儿拍过照呢。").
    if re.search(r"呢\s*[。！]?$", sentence) and re.search(_QUESTION_WORD_ZH, sentence):
        return False
    if _ASKS_RATHER.search(sentence):
        return False
    # Not only "I ..." sentences: what a player tells comes in many shapes ("Dundee, born and
    # bred.", "Her name's Ilka.", "当牙医真是费眼睛").
    return True


# A statement with a question tagged on ("老家四川自贡的，就是办恐龙灯会那个地方，你听说过没？",
# "I grew up in Tromsø, ever been up that far?"): the question is a short last clause.
_TAGGED = re.compile(r"^(.{4,}?)[，,]\s*([^，,]{1,40}[?？])\s*$")


# A statement that points back at what the sentence before it named ("哪儿有卖酸汤粉的？我就好
# 这一口", "Any Scotch pie going? I could eat my body weight in them").
_POINTS_BACK = re.compile(
    r"这一?口|这个|那个|这玩意|这东西|\b(?:them|those|that stuff|the stuff|it)\b", re.IGNORECASE
)

# A statement that can only mean what the statement before it named: a bare measure of it
# ("给你带了包我们那边的毛尖，我一天不喝两杯就没精神", "我一天不嗦一碗就难受"), "can't ... without
# it". It is told with that statement (said back whole), not on its own.
_MEANS_THE_ONE_BEFORE = re.compile(
    r"[一两几半俩仨]\s*[碗杯口份块瓶盘串根顿壶包](?=就|都|也|了|才|[，。！,.!]|$)"
    r"|\bwithout (?:it|them|one)\b|\b(?:a|one|two|three) of (?:them|those)\b",
    re.IGNORECASE,
)


# A greeting before what the player tells ("Hi Mira, I'm Ada, a blacksmith", "老板你好呀，我叫小雨"):
# not part of it, and never to be said back to them.
_GREETING = re.compile(
    r"^\W*(?:hi|hello|hey|hiya|howdy|good (?:morning|afternoon|evening))(?: there)?"
    r"(?:,? (?!I\b)[A-Z][\w'-]*)?\s*(?:[,!.]\s*|$)"
    r"|^[\u4e00-\u9fff]{0,4}?(?:你好|您好|嗨|哈喽)[呀啊哇]?(?:[，,！!。]\s*|$)",
    re.IGNORECASE,
)


# Whom the player speaks to, before what they say ("阿姨，…", "对了阿姨", "老板娘好啊！",
# "Morning!"): never part of what they tell or ask ("老板娘" is no word a question and a
# greeting share).
_ADDRESS_ZH = (
    r"(?:阿姨|叔叔|大叔|叔|大爷|大妈|大娘|大婶|婶子|奶奶|爷爷|老板娘|老板|师傅|掌柜的?|大姐|大哥|"
    r"姐姐|哥哥|老师|姑娘|小伙子?|老乡|老哥|老弟|美女|帅哥|老人家|阿婆|阿公|阿伯|伯伯|嫂子)"
)
_ADDRESS = re.compile(
    r"^\W*(?:(?:对了|哎呀|哎|诶|欸|嘿|喂|嗨|呃|嗯)[，,\s]*)?"
    # with the surname before the title: "陈掌柜好！", "钟师傅，"
    + r"(?:(?![我你您他她它这那咱俺])[\u4e00-\u9fff])?"
    + _ADDRESS_ZH
    + r"(?:早上好|你好|您好|好|早)?[啊呀哇啦嘛]?(?:[，,！!。~～\s]+|$)"
    r"|^\W*(?:alright|morning|evening|afternoon|hiya|hey|hello|hi|cheers|thanks|sorry|ok|okay"
    r"|right|well|oh|so)\b(?: then| there| love| mate)?\W*$",
    re.IGNORECASE,
)


def without_address(text: str) -> str:
    """``text`` without whom it is said to at its start ("阿姨，还记得我吗" -> "还记得我吗")."""
    return _ADDRESS.sub("", text, count=1)


def _asked_then(question: str, statement: str) -> str:
    """A question and the statement that points back at it, as one thing the player told:
    "我问过这条街上哪儿有卖酸汤粉的，我就好这一口" (said back: "你问过…，你就好这一口")."""
    asked = re.sub(r"^\W*(?:对了|哎|诶|欸|那个|oh|so|and|by the way)\W+", "", question, flags=re.I)
    if HAN_CHAR.search(asked):
        return f"我问过{asked.rstrip('？?。 ')}，{statement}"
    return f"I asked: {asked.strip()} {statement}"


# A sentence that gives its own reason ("..., since I was a boy", "因为血压高").
_REASON = re.compile(
    r"\b(?:because|since|'cause|cause|cos|as I|so I|so we|that's why)\b|因为|由于|所以|怕|不然",
    re.IGNORECASE,
)


def reason_after(lines: Iterable[str], sentence: str) -> str | None:
    """The statement told right after ``sentence`` in the same line, when ``sentence`` gives no
    reason of its own: what a "why" asks of it is there ("just milk in the tea, no sugar. type
    1 diabetic since I was a boy"; "您那酒我可不敢喝啊，我血压高，一直吃着药呢")."""
    if _REASON.search(sentence):
        return None
    for line in lines:
        told = _told_in(line)
        if sentence in told:
            at = told.index(sentence) + 1
            return told[at] if at < len(told) else None
    return None


def statements(lines: Iterable[str]) -> list[str]:
    """The sentences of ``lines`` that tell something, a tagged-on question cut off; one that
    points back at the sentence before it (a question, say) is kept with that sentence."""
    out: list[str] = []
    for line in lines:
        out.extend(_told_in(line))
    return list(dict.fromkeys(out))


# Someone present called to by name, with a word of endearment: "Maya, honey, gentle!!",
# "Sam, sweetie, put that down". Who it is is said before ("that's her by the door").
_CALLED_TO = re.compile(
    r"^\W*([A-Z][a-z]{1,14}),\s*(?:honey|hon|sweetie|sweetheart|sweetpea|darling|love|baby"
    r"|buddy|bud|kiddo|pumpkin|munchkin|bug)\b"
)
_SPOKEN = re.compile(r"\w")
_SHE_OR_HE = re.compile(r"\b(?:(she|her)|(he|him|his))\b", re.IGNORECASE)


def _whose_before(parts: Sequence[str]) -> str:
    """Whose name one called to has, by the sentences before it (of one line): "my daughter's"
    ("that's my daughter by the fountain"), else "her" or "his" by the last she, her, he or
    him; '' when none is spoken of."""
    for part in reversed(parts):
        kin = list(_MY_KIN.finditer(part))
        if kin:
            return f"my {kin[-1].group(1).lower()}'s"
        found = list(_SHE_OR_HE.finditer(part))
        if found:
            return "her" if found[-1].group(1) else "his"
    return ""


_MY_KIN = re.compile(
    r"\b(?:my|our) (daughter|son|girl|boy|little girl|little boy|little one|kid|youngest|eldest"
    r"|niece|nephew|granddaughter|grandson|wife|husband|partner)\b",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=4096)
def _told_in(line: str) -> tuple[str, ...]:
    """The statements of one line (a turn reads the same earlier lines again: cached)."""
    out: list[str] = []
    parts = _clauses(spelled_out(line))
    for index, sentence in enumerate(parts):
        called = _CALLED_TO.match(sentence)
        if called:
            # "that's her by the door. Maya, honey, gentle!!": her name, said to her
            whose = _whose_before(parts[:index])
            if whose:
                out.append(f"{whose} name is {called.group(1)}.")
            continue
        sentence = heuristics.without_lead_in(without_address(_GREETING.sub("", sentence, count=1)))
        if not _SPOKEN.search(sentence):
            continue  # nothing said ("!" after "gentle!!")
        if is_statement(sentence):
            before = parts[index - 1] if index else ""
            points_back = _POINTS_BACK.search(sentence) or _MEANS_THE_ONE_BEFORE.search(sentence)
            if before and not is_statement(before) and points_back:
                out.append(_asked_then(before, sentence))
            elif (
                out
                and before
                and out[-1].endswith(before)
                and _MEANS_THE_ONE_BEFORE.search(sentence)
            ):
                out[-1] = f"{out[-1]}{'，' if HAN_CHAR.search(sentence) else ', '}{sentence}"
            elif (
                out
                and before
                and out[-1].endswith(before)
                and related(before) & NAMED_KINDS
                and (
                    _NAME_FRAGMENT.match(sentence)
                    or (_NAMED_BY_PRONOUN.search(sentence) and not related(sentence))
                )
            ):
                # The name of the one just named, not the player's: "The wife'll be in though.
                # Maureen.", "our eldest would have that collie's ears off. Isla, she's four"
                out[-1] = f"{out[-1]} {sentence}"
            elif (
                out
                and before
                and out[-1].endswith(before)
                and _KIN_OF_THE_NAME.match(sentence)
                and related(sentence) & NAMED_KINDS
                and _NAMED_IN.search(before)
            ):
                # What the one just named is: "so it's me and Rosie now. she's my beagle"
                out[-1] = f"{out[-1]} {sentence}"
            else:
                out.append(sentence)
            continue
        tagged = _TAGGED.match(sentence)
        if tagged and not is_question(tagged.group(1)) and is_statement(tagged.group(1)):
            out.append(tagged.group(1))
    return tuple(out)
