"""Which of the character's knowledge lines answers a question: shared words weighted by how
rare they are among the lines, fused with an embedder's similarity when there is one; and
which sentence and words of that line hold the answer.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence

from engine.dialogue.grounding.words import chars, terms

__all__ = [
    "HEADER",
    "NEAR",
    "near_words",
    "answer_keys",
    "answer_types",
    "aside_keys",
    "asked_types",
    "best_knowledge",
    "best_sentence",
    "rarity",
]

#: A lone Chinese character shared with a line counts this much of a shared bigram.
_CHAR_WEIGHT = 0.5

#: How much the semantic similarity (in standard deviations above the mean over the lines)
#: counts against the shared words (the best line's share is 1).
_SEMANTIC_WEIGHT = 0.5

#: A line no word ties to the question is taken on similarity alone when it stands this many
#: standard deviations above the others.
_SEMANTIC_ALONE = 1.5


def best_knowledge(
    question: str,
    q_terms: set[str],
    lines: Sequence[str],
    similarity: Sequence[float] | None,
) -> tuple[float, int] | None:
    """(score, index) of the knowledge line most relevant to ``question``, or None.

    Words: the shared terms weighted by how few lines use them (a shared Chinese character
    counts :data:`_CHAR_WEIGHT` of a shared bigram). With ``similarity``: the words' score as
    a share of the best line's, plus :data:`_SEMANTIC_WEIGHT` times the line's similarity in
    standard deviations above the mean; a line sharing no word needs :data:`_SEMANTIC_ALONE`.
    """
    q_all = q_terms | chars(question)
    line_terms = [terms(k) | chars(k) for k in lines]
    asked = asked_types(question) - _PART_ONLY
    line_types = [answer_types(k) & asked for k in lines]
    df: dict[str, int] = {}
    for ts in [*line_terms, *line_types]:
        for t in ts:
            df[t] = df.get(t, 0) + 1
    n = len(lines)
    lexical = [
        sum(
            (_CHAR_WEIGHT if t.startswith("字:") else 1.0) * math.log(1 + n / df[t])
            for t in q_all & ts
        )
        for ts in line_terms
    ]
    if similarity is None:
        # On words alone, one shared character ties nothing ("价" of "票价" and "砍价").
        lexical = [
            v if len(q_all & ts) > 1 or any(not t.startswith("字:") for t in q_all & ts) else 0.0
            for v, ts in zip(lexical, line_terms, strict=True)
        ]
    # The kind of answer asked for counts as one more shared word, once some word ties a line
    # to the question (alone, "How long is your beard?" would take any line with a duration).
    support = lexical
    lexical = [
        v + sum(math.log(1 + n / df[t]) for t in types) if v > 0 or similarity is not None else v
        for v, types in zip(lexical, line_types, strict=True)
    ]
    top = max(lexical)
    if similarity is None or n < 3:
        if top <= 0:
            return None
        i = max(range(n), key=lambda j: (lexical[j], -j))
        return lexical[i], i
    mean = sum(similarity) / n
    spread = math.sqrt(sum((s - mean) ** 2 for s in similarity) / n) or 1.0
    z = [(s - mean) / spread for s in similarity]
    fused = [(lexical[j] / top if top > 0 else 0.0) + _SEMANTIC_WEIGHT * z[j] for j in range(n)]
    i = max(range(n), key=lambda j: (fused[j], -j))
    if support[i] <= 0 and not line_types[i] and z[i] < _SEMANTIC_ALONE:
        return None
    return max(lexical[i], _SEMANTIC_WEIGHT * z[i]), i


_EN_NUMBER = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|"
    r"forty|fifty|sixty|hundred|half an?|a couple of"
)
_ZH_NUMBER = r"[一二两三四五六七八九十百千半\d]"

# The kind of answer a question asks for, and what a line holding one looks like: "How long
# does the crossing take?" wants a duration ("thirty-five minutes"), "哪天歇业？" a day
# ("每周三"), "What does it set me back?" a price, "How many …?" a count of things ("up to
# twelve books"), "Has it a name?" what something is called. Each is one more term a question
# and a line can share, weighted by how few lines have it, like a word. (Clock times are in too
# many lines to point at one: they only choose the part of a line, see _PART_ONLY.)
_ANSWER_TYPES: tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...] = (
    (
        "duration",
        # (几长时间: "how long" in Jiangxi and Hunan)
        re.compile(r"\bhow long\b|多久|[多几]长时间|几分钟|几个?小时|几个钟头", re.IGNORECASE),
        re.compile(
            rf"\b(?:\d+|{_EN_NUMBER})[\s-]*(?:minutes?|mins?|hours?|hrs?|days?|weeks?|months?)\b"
            rf"|\ba (?:fortnight|week|month)\b"
            rf"|{_ZH_NUMBER}+\s*(?:分钟|个?小时|个钟头|天|个?星期|个?礼拜|周|个月)",
            re.IGNORECASE,
        ),
    ),
    (
        "day",
        re.compile(
            r"\b(?:which|what) days?\b|\b(?:which|what) (?:mornings?|afternoons?|evenings?|nights?)"
            r" of the week\b|\bday of the week\b|哪天|哪一天|星期几|礼拜几|周几|几号",
            re.IGNORECASE,
        ),
        re.compile(
            r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)days?\b|\bweekends?\b"
            r"|(?:星期|礼拜|周)[一二三四五六日天]|初[一二三四五六七八九十]|[\d一二三四五六七八九十]+号",
            re.IGNORECASE,
        ),
    ),
    (
        # "Who taught you?": a person, named ("Walter Hebden"), not at a sentence's start
        "person",
        re.compile(r"\bwho\b|\bwhose\b|\bwhom\b", re.IGNORECASE),
        re.compile(
            r"(?<=[a-z,;] )(?:[A-Z][a-z]+ ){1,2}(?!The\b)[A-Z][a-z]+\b"
            # "The diner cat is Pistol": one name, said to be who it is
            r"|\b(?:is|named|called) (?!The\b|A\b|An\b)[A-Z][a-z]+\b"
        ),
    ),
    (
        # "What's that song you always punch on the jukebox?": a title, quoted
        "title",
        re.compile(
            r"\b(?:what|which)(?:'s| is| was)? (?:that |the )?(?:song|tune|record|track|book|film"
            r"|movie|play|poem|hymn)\b|什么歌|哪首|啥歌|什么书|哪本书|什么戏|哪出戏|什么电影",
            re.IGNORECASE,
        ),
        re.compile(r"[\"“'‘][A-Z][^\"”]{2,40}?[\"”'’](?!\w)|《[^》]{1,20}》"),
    ),
    (
        # "Where's the closest motel?": a place named (only to find the part of a line)
        "place",
        re.compile(
            r"\bwhere\b|哪里|哪儿|在哪|去哪",
            re.IGNORECASE,
        ),
        re.compile(
            r"\b(?:in|at|on|to|near|outside|by) (?:the )?[A-Z][a-z]+"
            r"|(?:在|到|去)[\u4e00-\u9fff]{2,6}?(?:里|边|旁|对面|门口|附近|路|街|巷|村|镇|县|市|区|公园|广场)",
        ),
    ),
    (
        # "My nephew's eight, could he do it?": an age limit
        "age",
        re.compile(
            r"\bhow old\b|\bage\b|\b(?:kid|child|son|daughter|nephew|niece|grandson|granddaughter"
            r"|boy|girl|lad|lass)(?:'s| is)\s+(?:\d{1,2}|one|two|three|four|five|six|seven|eight|nine"
            r"|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen)\b|几岁|多大|岁",
            re.IGNORECASE,
        ),
        re.compile(
            r"\byears? old\b|\baged?\b|\b(?:under|over)[- ](?:\d|one|two|three|four|five|six|seven"
            r"|eight|nine|ten|eleven|twelve|fourteen|sixteen|eighteen)|\bat least \w+ years\b|岁",
            re.IGNORECASE,
        ),
    ),
    (
        # "What time …?": a clock time (only to find the part of a line: most lines have one)
        "time",
        re.compile(r"\bwhat time\b|\bhow early\b|\bhow late\b|几点|什么时候|啥时候", re.IGNORECASE),
        re.compile(
            rf"\b\d{{1,2}}[:.]\d{{2}}\b|\bo'clock\b|\b\d{{1,2}}\s*(?:am|pm|a\.m\.|p\.m\.)"
            rf"|\b(?:at|from|until|till|by|before|after) (?:{_EN_NUMBER}|noon|midnight|dawn)\b"
            # "from 1 to 4 in the afternoon", "open till 9" (not "after 3 years")
            r"|\b(?:at|from|until|till|by|before|after) \d{1,2}\b(?![:.,]?\d)(?!\s*(?:%|years?|months?"
            r"|weeks?|days?|hours?|minutes?|miles?|km|kilos?|pounds?|people|dollars?|euros?)\b)"
            r"|\b\d{1,2} in the (?:morning|afternoon|evening)\b"
            r"|\bhalf past\b|\bquarter (?:past|to)\b|[一二两三四五六七八九十\d]+点",
            re.IGNORECASE,
        ),
    ),
    (
        # "How many can I take out?": a count of things ("up to twelve books", "六个人"), not
        # of minutes, years or pounds
        "count",
        re.compile(
            r"\bhow many\b|几个|多少个|几[本位张辆条只件台间人]|多少[本位张辆条只件台间人]",
            re.IGNORECASE,
        ),
        re.compile(
            rf"\b(?:\d+|{_EN_NUMBER})\s+(?:[a-z]+\s+)?(?!minutes?\b|mins?\b|hours?\b|days?\b"
            r"|weeks?\b|months?\b|years?\b|pounds?\b|pence\b|quid\b|o'clock\b|pm\b|am\b"
            r"|in\b|at\b|on\b|and\b|or\b|to\b|the\b|a\b|of\b|for\b|by\b)(?:[a-z]+s|people|children|folk|men|women|sheep)\b"
            r"|(?<![一\d])[二两三四五六七八九十百千\d]+\s*[个本位张辆条只件台间名](?!钟|月)",
            re.IGNORECASE,
        ),
    ),
    (
        # "Does the old van have a name?": what something is called ("a bus he calls Bertha")
        "name",
        re.compile(
            r"\b(?:have|has|got|give) (?:a|its|her|his) name\b|\bname of\b|\bwhat(?:'s| is| are)"
            r" (?:it|she|he|they|the [a-z]+|that [a-z]+|your [a-z]+) (?:called|named)\b"
            r"|叫什么|叫啥|名字",
            re.IGNORECASE,
        ),
        re.compile(
            r"\b(?:calls?|called|named|known as) [“\"']?[A-Z][a-z]+|叫[“\"]?[\u4e00-\u9fff]{1,4}[”\"]?",
        ),
    ),
    (
        "price",
        re.compile(
            r"\bhow much\b|\bcost|\bprice|\bcharge|\b(?:set|run) (?:me|you|us)(?: back)?\b|多少钱|价"
            r"|收费|几块",
            re.IGNORECASE,
        ),
        re.compile(
            r"[£$€¥]|\b(?:pounds?|pence|quid|coins?|dollars?|euros?)\b|[块元]钱?|[\d一二三四五六七八九十]毛",
            re.IGNORECASE,
        ),
    ),
)


# Answer types too common among lines to choose one (most lines have a clock time), only the
# part of a line that holds the answer.
_PART_ONLY = frozenset({"型:time", "型:place"})


@functools.lru_cache(maxsize=1024)
def asked_types(question: str) -> frozenset[str]:
    """The kinds of answer ``question`` asks for, as terms (``型:duration``, ...)."""
    return frozenset(f"型:{name}" for name, asks, _holds in _ANSWER_TYPES if asks.search(question))


@functools.lru_cache(maxsize=8192)
def answer_types(line: str) -> frozenset[str]:
    """The kinds of answer ``line`` holds, as terms (worked out once per knowledge line)."""
    return frozenset(f"型:{name}" for name, _asks, holds in _ANSWER_TYPES if holds.search(line))


# Words a question uses for what knowledge says otherwise ("tonight" for "every evening").
NEAR: dict[str, tuple[str, ...]] = {
    "tonight": ("evening", "night"), "evening": ("tonight", "night"),
    "night": ("tonight", "evening"), "today": ("day", "daily"), "tomorrow": ("day", "morning"),
    "price": ("cost", "coin"), "cost": ("price",), "open": ("opens",), "close": ("closes", "shut"),
    "kid": ("child", "children"), "kids": ("child", "children"), "child": ("kid", "kids"),
    "children": ("kid", "kids"), "孩子": ("小孩", "儿童"), "小孩": ("孩子", "儿童"), "儿童": ("孩子", "小孩"),
    "礼拜": ("星期",), "星期": ("礼拜",), "关门": ("打烊",), "打烊": ("关门",), "开门": ("开张", "营业"), "几点": ("点",),
    "今晚": ("晚上", "每晚"), "今天": ("每天",), "晚上": ("今晚", "每晚"), "价钱": ("多少",),
}  # fmt: skip


def near_words(term: str) -> tuple[str, ...]:
    """The words a question's ``term`` (as :func:`terms` makes it) may stand for (see ``NEAR``)."""
    return _NEAR_BY_TERM.get(term, ())


# NEAR by the terms its words make ("evening" is matched as "even").
_NEAR_BY_TERM: dict[str, tuple[str, ...]] = {}
for _word, _near in NEAR.items():
    for _term in terms(_word) or {_word}:
        _NEAR_BY_TERM[_term] = (*_NEAR_BY_TERM.get(_term, ()), *_near)


def _best_part(
    line: str,
    q_terms: set[str],
    pattern: str,
    rarity: Mapping[str, float] | None = None,
    types: frozenset[str] = frozenset(),
) -> str:
    """The part of ``line`` (split at ``pattern``) sharing most with the question (first on
    ties); with ``rarity``, a shared word counts as much as it says there. A part holding the
    kind of answer asked for (``types``, see :func:`asked_types`) comes first: the line already
    is about the question, and that part answers it ("哪天不开门？": "每月农历初一歇业一天", not
    "早上五点半开门")."""
    parts = [p.strip() for p in re.split(pattern, line) if p.strip()]
    if len(parts) <= 1:
        return line
    weight = rarity or {}

    def score(part: str) -> tuple[bool, float, int]:
        typed = bool(types and answer_types(part) & types)
        shared = sum(weight.get(t, 1.0) for t in terms(part) & q_terms)
        return typed, shared, -parts.index(part)

    return max(parts, key=score)


@functools.lru_cache(maxsize=256)
def rarity(lines: tuple[str, ...]) -> Mapping[str, float]:
    """How rare each word of ``lines`` is among them (log(1 + lines / lines with it)): a word
    every line has says little about which part of one answers ("hawk" of "the hawk walk"),
    one few have says much ("booked a week ahead"). Worked out once per set of lines (a
    character's knowledge is the same from turn to turn); read only."""
    df: dict[str, int] = {}
    for line in lines:
        for t in terms(line):
            df[t] = df.get(t, 0) + 1
    n = len(lines)
    return {t: math.log(1 + n / count) for t, count in df.items()}


def best_sentence(
    line: str,
    q_terms: set[str],
    rare: Mapping[str, float] | None = None,
    types: frozenset[str] = frozenset(),
) -> str:
    """The sentence of a knowledge line that shares most with the question (``rare``: the
    words' weights, see :func:`rarity`; ``types``: the kinds of answer asked for)."""
    # (not at the point of "£6.50")
    # (not inside "3 a.m.": a letter and its dot end no sentence, but "a.m." before a capital may)
    return _best_part(
        line,
        q_terms,
        r"(?<=[!?。！？；;])\s*|(?<=\.)(?<!\s[a-z]\.)(?:(?<!\.[a-z]\.)|(?=\s+[A-Z]))(?!\d)\s*",
        rare,
        types,
    )


HEADER = re.compile(r"^[^:：,，]{1,40}[:：]\s*(?=\S)")

_NUMBER = r"\d|[一二两三四五六七八九十百千]|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|noon|midnight)\b"


# The kinds of answer a number gives.
_NUMBERED = frozenset({"型:duration", "型:day", "型:age", "型:time", "型:count", "型:price"})


# Where a sentence splits into clauses.
_CLAUSE = r"[,，、:：]\s*"


def _within(parts: Sequence[str], rare: Mapping[str, float] | None) -> dict[str, float]:
    """``rare`` (1.0 for words it lacks) divided by how many of the clauses ``parts`` hold the
    word: what most clauses name is what the sentence is about (the lake of "查干湖在吉林…，
    “查干”是蒙古语，意思是“白色”，查干湖就是“白色的湖”), not which clause answers."""
    counts: dict[str, int] = {}
    for part in parts:
        for t in terms(part):
            counts[t] = counts.get(t, 0) + 1
    weight = rare or {}
    return {t: weight.get(t, 1.0) / n for t, n in counts.items()}


def answer_keys(
    sentence: str,
    q_terms: set[str],
    types: frozenset[str] = frozenset(),
    rare: Mapping[str, float] | None = None,
) -> frozenset[str]:
    """The terms of the clause that answers the question, the question's own terms left out
    (a list's header, "Prices at the stall:", is not a clause of it); ``types``: the kinds of
    answer asked for, as :func:`asked_types` gives them; ``rare``: the words' weights, as for
    :func:`best_sentence` (a word every line shares, the lake's name, says less of which
    clause answers than "意思" of "查干湖这个名字是什么意思？")."""
    body = HEADER.sub("", sentence)
    parts = [p.strip() for p in re.split(_CLAUSE, body) if p.strip()]
    clause = _best_part(body, q_terms, _CLAUSE, _within(parts, rare), types)
    if not re.search(_NUMBER, clause) and (not types or types & _NUMBERED):
        # Among clauses sharing as much with the question, the one with a number answers
        # "when" and "how much" ("茶馆几点关门？": "晚上十一点打烊", not "听雨茶馆在广场东边").
        shared = len(terms(clause) & q_terms)
        counted = [p for p in parts if re.search(_NUMBER, p) and len(terms(p) & q_terms) == shared]
        if shared and counted:
            clause = counted[0]
    keys = terms(clause) - q_terms
    if len(keys) < 2 and not re.search(r"\d", clause):
        # The clause the question points at ("When snow blocks the pass,") says little of its
        # own: the answer is in what follows it.
        if clause in parts and parts.index(clause) + 1 < len(parts):
            keys |= terms(parts[parts.index(clause) + 1]) - q_terms
    return frozenset(keys or terms(sentence) - q_terms)


def aside_keys(sentence: str, q_terms: set[str], keys: frozenset[str]) -> frozenset[str]:
    """Keys of the alternatives in ``sentence`` the question does not point at: of "... from
    pier two at half past six in the morning and at four in the afternoon", asked about the
    morning ferry, "four" and "afternoon", and the setting they share ("Skerry", "pier"). An
    alternative is a part from its number on; the question points at those that share a word
    with it, and a reply naming only the others or the setting misses the answer. Nothing when
    it points at all alternatives or none."""
    parts = re.split(r"[,，、:：;；]\s*|\s+(?:and|but|or)\s+", HEADER.sub("", sentence))
    tails = []
    for part in parts:
        number = re.search(_NUMBER, part)
        if number:
            tails.append(part[number.start() :])
    hit = [t for t in tails if terms(t) & q_terms]
    if not hit or len(hit) == len(tails):
        return frozenset()
    pointed = set().union(*(terms(t) for t in hit))
    aside = set().union(*(terms(t) for t in tails if t not in hit))
    # What the alternatives share ("the ferry to Skerry Isle leaves from pier") is the setting
    # of the question, not its answer.
    setting = terms(sentence) - set().union(*(terms(t) for t in tails))
    return frozenset(keys & (aside | setting) - pointed)
