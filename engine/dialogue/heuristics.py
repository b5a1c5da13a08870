"""Pure heuristics the turn pipeline uses when no capable model is at hand (or to be quick).

- :func:`importance` scores a line 1..10 (personal disclosures, strong feelings, promises and
  gifts score high; greetings and small talk low);
- :func:`extract_facts` reads simple facts about the player from their own words, in English
  and Chinese ("my name is Ada", "I love sailing", "我叫小林", "我喜欢龙井");
- :func:`sentiment` gives an affinity/trust nudge from thanks, compliments, gifts and insults;
- :func:`summarise` writes an extractive summary of older turns;
- :func:`remembered_detail` turns something the player said into a clause a greeting can use
  ("you said your sister keeps bees on the hill" / "你说过你妹妹在山上养蜂");
- :func:`choose_line` picks an authored line deterministically.

None of them touch I/O; all are deterministic.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from engine.dialogue.facts import RELATION_NOUNS
from engine.text.alternatives import needed, scripts_in
from engine.text.sentences import split_sentences
from engine.text.spelling import spelled_out

__all__ = [
    "MEMORABLE",
    "NAME_AFTER_SURNAME",
    "ExtractedFact",
    "choose_line",
    "extract_facts",
    "importance",
    "remembered_detail",
    "second_person",
    "sentiment",
    "statements",
    "summarise",
    "without_lead_in",
]

_CJK = re.compile(r"[\u3400-\u9fff]")

_HIGH_WORDS_EN = (
    "love", "hate", "die", "died", "death", "secret", "promise", "married", "wedding", "born",
    "birthday", "sister", "brother", "mother", "father", "mum", "mom", "dad", "wife", "husband",
    "daughter", "son", "friend", "afraid", "scared", "dream", "gift", "rose", "sorry", "lost",
    "name", "work", "job", "live", "from", "favourite", "favorite", "never", "always", "first",
)  # fmt: skip
_HIGH_WORDS_ZH = (
    "爱", "恨", "死", "秘密", "答应", "结婚", "生日", "妹妹", "姐姐", "哥哥", "弟弟", "妈妈", "爸爸",
    "母亲", "父亲", "妻子", "丈夫", "女儿", "儿子", "朋友", "害怕", "梦想", "礼物", "对不起", "名字",
    "叫", "工作", "住", "来自", "最喜欢", "喜欢", "第一次",
)  # fmt: skip
_SMALL_TALK = re.compile(
    r"^\s*(hi|hello|hey|yo|ok(ay)?|thanks?( you)?|bye|goodbye|see you|yes|no|sure|hmm+|lol|"
    r"你好|您好|嗨|好的?|谢谢|再见|拜拜|嗯+|是的?|不是?)\W*$",
    re.IGNORECASE,
)


def importance(text: str) -> float:
    """How memorable a line is, 1..10 (5 is ordinary)."""
    stripped = text.strip()
    if not stripped:
        return 1.0
    if _SMALL_TALK.match(stripped):
        return 2.0
    score = 3.0
    lower = stripped.lower()
    words = set(re.findall(r"[a-z']+", lower))
    score += min(3.0, 1.0 * len(words & set(_HIGH_WORDS_EN)))
    score += min(3.0, 1.0 * sum(1 for w in _HIGH_WORDS_ZH if w in stripped))
    if re.search(r"\b(i|i'm|i've|my|me)\b", lower) or "我" in stripped:
        score += 1.0  # about the speaker
    if "!" in stripped or "！" in stripped:
        score += 0.5
    length = len(_CJK.findall(stripped)) * 2 + len(words)
    if length > 12:
        score += 1.0
    return max(1.0, min(10.0, score))


@dataclass(frozen=True, slots=True)
class ExtractedFact:
    """A fact about the player read from their own words."""

    predicate: str
    object: str
    confidence: float = 0.7


_RELATIONS = "|".join(sorted(RELATION_NOUNS, key=len, reverse=True))
# Names and places start with a capital even when the rest of a pattern ignores case.
_NAMED = r"(?-i:[A-Z])[\w'-]*(?: (?-i:[A-Z])[\w'-]*)?"  # fmt: skip
_PLACE = r"(?-i:[A-Z])[\w'-]*(?: (?-i:[A-Z])[\w'-]*){0,2}"  # fmt: skip
# Where someone is from, said without a name: "from the north", "from the coast".
_REGION = (
    r"the (?:far |deep )?(?:north|south|east|west|north-east|north-west|south-east|south-west|"
    r"northeast|northwest|southeast|southwest|coast|hills|mountains|islands?|city|countryside|"
    r"valley|lowlands|highlands|capital|desert|marshes|plains)"
)
_EN_PATTERNS: tuple[tuple[str, str, float], ...] = (
    (r"\b(?i:my name is) ([A-Z][\w'-]*(?: [A-Z][\w'-]*)?)", "name", 0.95),
    (r"\b(?i:call me) ([A-Z][\w'-]*)", "name", 0.9),
    (r"\b(?i:name's) ([A-Z][\w'-]*)", "name", 0.85),
    (r"\b(?i:i am called) ([A-Z][\w'-]*)", "name", 0.9),
    (r"\b(?i:i'm|i am) ([A-Z][a-z][\w'-]*)(?=[\s.,!?]|$)", "name", 0.6),
    (r"\bi(?:'m| am) from ([\w' -]{2,40}?)(?=[.,!?;]|$| and )", "comes from", 0.85),
    (r"\bi live in ([\w' -]{2,40}?)(?=[.,!?;]|$| and )", "lives in", 0.85),
    (r"\bi work as (?:an? )?([\w' -]{2,40}?)(?=[.,!?;]|$| and )", "works as", 0.85),
    (
        r"\bi(?:'m| am) an? ([a-z][\w' -]{2,30}?)(?=[.,!?;]|$| and | by | from | in | at )",
        "is a",
        0.6,
    ),
    (
        r"\bi(?:'m| am) (?-i:[A-Z])[\w'-]+, an? ([a-z][\w'-]{2,20})(?=[.,!?;]|$| and | from | in | at )",
        "is a",
        0.6,
    ),
    (r"\bmy favou?rite ([a-z ]{2,20}?) is ([\w' -]{2,40}?)(?=[.,!?;]|$)", "favourite", 0.85),
    (r"\bi (?:really )?(?:love|adore) ([\w' -]{2,40}?)(?=[.,!?;]|$| and | but )", "loves", 0.8),
    (r"\bi (?:really )?(?:like|enjoy) ([\w' -]{2,40}?)(?=[.,!?;]|$| and | but )", "likes", 0.75),
    (
        r"\bi (?:really )?(?:hate|can't stand|dislike) ([\w' -]{2,40}?)(?=[.,!?;]|$| and | but )",
        "dislikes",
        0.75,
    ),
    (r"\bi(?:'m| am) (\d{1,3}) years old", "age", 0.9),
    (
        rf"\bi(?:'m| am) an? [\w' -]{{2,30}}? from ({_PLACE}|{_REGION})(?=[.,!?;]|$| and )",
        "comes from",
        0.8,
    ),
    (
        rf"\bi(?:'m| am) (?-i:[A-Z])[\w'-]+, an? [\w' -]{{2,30}}? from ({_PLACE}|{_REGION})(?=[.,!?;]|$| and )",
        "comes from",
        0.8,
    ),
    (rf"\bi (?:come|came) from ({_PLACE}|{_REGION})(?=[.,!?;]|$| and )", "comes from", 0.85),
    (rf"\bi grew up (?:in|on) ({_PLACE}|{_REGION})(?=[.,!?;]|$| and )", "comes from", 0.8),
    (r"\bi play (?:the )?([a-z][\w' -]{1,30}?)(?=[.,!?;]|$| and | in | with | for )", "plays", 0.7),
    (rf"\bmy ({_RELATIONS})(?:'s name is| is called| is named) ({_NAMED})", "family", 0.85),
    (rf"\bi have an? ({_RELATIONS}) (?:called|named) ({_NAMED})", "family", 0.85),
    (rf"\bmy ({_RELATIONS}),? ({_NAMED})(?= [a-z]|[.,!?;]|$)", "family", 0.8),
    (rf"\bmy ({_RELATIONS}) ([\w' -]{{2,50}}?)(?=[.,!?;]|$)", "family", 0.7),
)
#: The full name told after the surname, "我姓钱，钱有福" (not "我姓钱，你呢"), as group 1.
NAME_AFTER_SURNAME = (
    r"(?<=我姓[\u4e00-\u9fff][，,])\s*(?![你您他她我])([\u4e00-\u9fff]{2,3}?)(?=[，。！？,.!?\s]|$)"
)
_ZH_PATTERNS: tuple[tuple[str, str, float], ...] = (
    (r"我(?:的名字)?叫([\u4e00-\u9fffA-Za-z]{1,8}?)(?=[，。！？,.!?\s]|$)", "name", 0.9),
    (r"我的名字是([\u4e00-\u9fffA-Za-z]{1,8}?)(?=[，。！？,.!?\s]|$)", "name", 0.95),
    # "我姓钱，钱有福": the full name after the surname
    (
        NAME_AFTER_SURNAME,
        "name",
        0.9,
    ),
    (
        r"我是(?:土生土长的|地道的|正宗的)?([\u4e00-\u9fff]{1,12}?)人(?=[，。！？,.!?\s]|$)",
        "comes from",
        0.8,
    ),
    (r"我来自([\u4e00-\u9fffA-Za-z]{1,12}?)(?=[，。！？,.!?\s]|$)", "comes from", 0.85),
    (r"我住在([\u4e00-\u9fffA-Za-z]{1,12}?)(?=[，。！？,.!?\s]|$)", "lives in", 0.85),
    (r"我最喜欢(?:的)?([\u4e00-\u9fffA-Za-z]{1,12}?)(?=[，。！？,.!?\s]|$)", "favourite", 0.85),
    (
        r"我(?:很|非常|特别)?(?:喜欢|爱)([\u4e00-\u9fffA-Za-z]{1,12}?)(?=[，。！？,.!?\s]|$)",
        "likes",
        0.8,
    ),
    (
        r"我(?:很|非常)?(?:讨厌|不喜欢)([\u4e00-\u9fffA-Za-z]{1,12}?)(?=[，。！？,.!?\s]|$)",
        "dislikes",
        0.8,
    ),
    (r"我是?(?:在|做)([\u4e00-\u9fff]{1,10}?)(?:工作|上班|打工)", "works at", 0.75),
    (r"我是?从([\u4e00-\u9fff]{2,8}?)来", "comes from", 0.8),
    (
        r"(?:我的?)?老家(?:在|是)([\u4e00-\u9fffA-Za-z]{1,12}?)(?=[，。！？,.!?\s的]|$)",
        "comes from",
        0.8,
    ),
    (
        r"我是(?:[\u4e00-\u9fff]{0,2}?)((?:送|开|做|卖|修|教|跑|干|当|种|养)[\u4e00-\u9fff]{1,5}?)的(?=[，。！？,.!?\s]|$)",
        "is a",
        0.7,
    ),
    (
        r"我(?:在[\u4e00-\u9fff]{1,10}?)?(?:当|是一名|是一个|是个)([\u4e00-\u9fff]{2,8}?)(?=[，。！？,.!?\s]|$)",
        "is a",
        0.7,
    ),
    (
        r"(?:我家?|家里)(?:还|也)?养了?(?:一|两|三)?(?:只|条|匹)?([\u4e00-\u9fff]{1,3}?)[，,]?(?:叫|名叫)([\u4e00-\u9fff]{1,4}?)(?=[，。！？,.!?\s]|$)",
        "pet",
        0.8,
    ),
    (r"我(?:今年)?(\d{1,3})岁", "age", 0.9),
)
_NOT_NAMES = frozenset(
    "Sorry Fine Good Okay Ok Here Back Just Not So Very Really Happy Sad Tired New Looking Going Glad".split()
)


_QUESTION_EN = re.compile(
    r"^\W*(?:and |but |so |oh |hey |well )?(?:what|what's|whats|where|where's|who|who's|whom|whose|"
    r"which|when|why|how|do|does|did|am|is|are|was|were|can|could|will|would|should|shall|have|"
    r"has|had|may|might|remember|guess)\b",
    re.IGNORECASE,
)
_QUESTION_ZH = re.compile(
    r"什么|啥|么子|哪|谁|几|多少|怎么|怎样|为何|吗|是不是|有没有|记得|对不对|呢\W*$"
)
_SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？]*")
_CLAUSE = re.compile(r"[,，;；:：]")
# A Chinese clause that drops its subject ("我叫小明，是从苏州来的") still speaks of the player.
_ZH_SUBJECTLESS = re.compile(r"^(?:是|最|在|从|住|来自|喜欢|很喜欢|特别喜欢|今年|还养|也养|养)")


def statements(text: str) -> str:
    """``text`` without its questions: the clauses a player states, for reading facts from.

    A question is never a fact ("what do I like to drink?" says nothing about what they
    drink): a sentence ending in a question mark loses its last clause and every clause that
    reads as a question; other sentences lose clauses that open like a question ("do you
    remember ...") or, in Chinese, hold a question word (什么, 哪, 吗, 记得 ...).

    >>> statements("I'm Ada, do you remember me? I love tea.")
    "I'm Ada. I love tea."
    """
    kept: list[str] = []
    for sentence in _SENTENCE.findall(text):
        body = sentence.strip()
        asked = body.endswith(("?", "？"))
        clauses = [c.strip(" .!?。！？") for c in _CLAUSE.split(body)]
        if asked:
            clauses = clauses[:-1]
        said = [c for c in clauses if c and not _is_question(c)]
        if said:
            zh = bool(_CJK.search(body)) and "我" in body
            said = [("我" + c if zh and _ZH_SUBJECTLESS.match(c) else c) for c in said]
            kept.append(("，" if zh else ", ").join(said) + ("。" if zh else "."))
    return " ".join(kept)


def _is_question(clause: str) -> bool:
    if _CJK.search(clause):
        return bool(_QUESTION_ZH.search(clause))
    return bool(_QUESTION_EN.match(clause))


# Compiled once, each with the scripts a text needs for it to match (a Chinese line is not
# searched for English facts, nor the other way round).
_EN_SEARCH = tuple(
    (
        re.compile(pattern, 0 if predicate == "name" else re.IGNORECASE),
        needed(pattern),
        predicate,
        confidence,
    )
    for pattern, predicate, confidence in _EN_PATTERNS
)
_ZH_SEARCH = tuple(
    (re.compile(pattern), needed(pattern), predicate, conf)
    for pattern, predicate, conf in _ZH_PATTERNS
)


def extract_facts(text: str) -> list[ExtractedFact]:
    """Facts a player states about themselves in ``text`` (first person only), best effort.

    Questions are skipped (see :func:`statements`).
    """
    text = statements(text)
    out: list[ExtractedFact] = []
    seen: set[str] = set()
    present = scripts_in(text)
    for search, needs, predicate, confidence in _EN_SEARCH:
        if not needs <= present:
            continue
        for m in search.finditer(text):
            if predicate == "favourite":
                pred, obj = f"favourite {m.group(1).strip()}", m.group(2)
            elif predicate == "family":
                pred, obj = m.group(1).lower(), m.group(2)
            else:
                pred, obj = predicate, m.group(1)
            obj = obj.strip(" '\"")
            if predicate == "name" and (obj in _NOT_NAMES or obj.lower() in ("a", "an", "the")):
                continue
            if pred == "is a" and obj.split()[0] in ("bit", "little", "lot", "fine", "good"):
                continue
            if obj and pred not in seen:
                seen.add(pred)
                out.append(ExtractedFact(pred, obj, confidence))
    for search, needs, predicate, confidence in _ZH_SEARCH:
        found = search.search(text) if needs <= present else None
        if found and predicate not in seen:
            pred, obj = predicate, found.group(1).strip()
            if predicate == "pet":
                pred, obj = found.group(1), found.group(2)
            if predicate == "name" and obj in ("什么", "谁"):
                continue
            seen.add(predicate)
            out.append(ExtractedFact(pred, obj, confidence))
    return out


_POSITIVE_EN = (
    "thank",
    "thanks",
    "love it",
    "great",
    "wonderful",
    "kind",
    "beautiful",
    "amazing",
    "appreciate",
    "friend",
    "gift",
    "for you",
)
_POSITIVE_ZH = (
    "谢谢",
    "感谢",
    "太好了",
    "真好",
    "喜欢你",
    "厉害",
    "漂亮",
    "朋友",
    "送你",
    "礼物",
    "辛苦",
)
_NEGATIVE_EN = (
    "hate you",
    "stupid",
    "idiot",
    "shut up",
    "useless",
    "ugly",
    "liar",
    "boring",
    "go away",
)
_NEGATIVE_ZH = ("讨厌你", "笨蛋", "闭嘴", "没用", "骗子", "无聊", "滚", "傻")
_TRUST_EN = ("secret", "promise", "trust", "honest", "between us")
_TRUST_ZH = ("秘密", "答应", "相信", "信任", "说实话")


def sentiment(text: str) -> dict[str, float]:
    """An affinity/trust nudge from a player's line (each in -3..2)."""
    lower = text.lower()
    pos = sum(1 for w in _POSITIVE_EN if w in lower) + sum(1 for w in _POSITIVE_ZH if w in text)
    neg = sum(1 for w in _NEGATIVE_EN if w in lower) + sum(1 for w in _NEGATIVE_ZH if w in text)
    trust = sum(1 for w in _TRUST_EN if w in lower) + sum(1 for w in _TRUST_ZH if w in text)
    out: dict[str, float] = {}
    affinity = min(2.0, float(pos)) - min(3.0, 2.0 * neg)
    if affinity:
        out["affinity"] = affinity
    if trust or neg:
        out["trust"] = min(2.0, float(trust)) - min(3.0, float(neg))
    return {k: v for k, v in out.items() if v}


def summarise(
    lines: Sequence[tuple[str, str]], previous: str | None = None, *, max_chars: int = 700
) -> str:
    """An extractive summary of ``(speaker, text)`` lines, appended to ``previous``.

    The most important lines are kept, in their original order, each shortened to its first
    sentence; the oldest part of the summary is dropped first when it passes ``max_chars``.
    """
    scored = [
        (importance(text), i, speaker, text)
        for i, (speaker, text) in enumerate(lines)
        if text.strip() and not _SMALL_TALK.match(text.strip())
    ]
    keep = sorted(
        sorted(scored, key=lambda s: (-s[0], s[1]))[: max(3, len(scored) // 3)], key=lambda s: s[1]
    )
    parts = []
    for _score, _i, speaker, text in keep:
        first = re.split(r"(?<=[.!?。！？])\s*", text.strip(), maxsplit=1)[0]
        if len(first) > 120:
            first = first[:117].rstrip() + "…"
        parts.append(f"{speaker}: {first}")
    summary = "; ".join(parts)
    if previous:
        summary = f"{previous.strip()} | {summary}" if summary else previous.strip()
    if len(summary) > max_chars:
        summary = "…" + summary[-(max_chars - 1) :]
    return summary


_SWAPS_EN = (
    (r"\bI am\b", "you are"), (r"\bI'm\b", "you're"), (r"\bI've\b", "you've"), (r"\bI'll\b", "you'll"),
    (r"\bI'd\b", "you'd"), (r"\bI was\b", "you were"), (r"\bI\b", "you"), (r"\bmy\b", "your"),
    (r"\bMy\b", "Your"), (r"\bmine\b", "yours"), (r"\bme\b", "you"), (r"\bmyself\b", "yourself"),
    (r"\bwe\b", "you"), (r"\bour\b", "your"), (r"\bWe\b", "You"), (r"\bOur\b", "Your"),
    # a spouse said as "the wife" is the speaker's own: "the wife'll be in" -> "your wife'll"
    (r"\b([Tt])he (missus|missis|wife|husband|hubby|other half)\b(?! of\b)",
     lambda m: ("Y" if m.group(1) == "T" else "y") + "our " + m.group(2)),
)  # fmt: skip


# Both ways at once: the player's "你家的龙井" is the character's own tea ("我家的").
# (俺, the north's 我, is said back as 你 too)
_SWAP_ZH = {
    "我们": "你们",
    "你们": "我们",
    "俺们": "你们",
    "我": "你",
    "俺": "你",
    "你": "我",
    "您": "我",
}
_PERSON_ZH = re.compile("我们|你们|俺们|我|俺|你|您")


def second_person(text: str) -> str:
    """Turn a player's first-person line into second person for the character to say back."""
    if _CJK.search(text):
        return _PERSON_ZH.sub(lambda m: _SWAP_ZH[m.group(0)], text)
    # What the player said of the character's side ("she loves your lanterns") is turned the
    # other way ("my lanterns"): held aside while "I" and "my" become "you" and "your".
    held: list[str] = []

    def hold(m: re.Match[str]) -> str:
        lead = m.group("lead") or ""
        word = m.group("form") or m.group("subject") or m.group("object")
        own = _YOU_EN.get(word.lower()) or ("I" if m.group("lead") is not None else "me")
        held.append(own[0].upper() + own[1:] if word[0].isupper() and own != "I" else own)
        return f"{lead}\ue000{len(held) - 1}\ue001"

    out = _YOU_FORMS.sub(hold, text)
    for pattern, repl in _SWAPS_EN:
        out = re.sub(pattern, repl, out)
    out = re.sub("\ue000(\\d+)\ue001", lambda m: held[int(m.group(1))], out)
    # "Plum wine. I love it!" -> "Plum wine. You love it!": "I" opened a sentence there (the
    # first word is left to the caller, which may go on from "you said ...").
    return re.sub(r"([.!?]\s+)(you|your|my)\b", lambda m: m.group(1) + m.group(2).title(), out)


# The second person as the player says it, and the character's first person for it.
_YOU_EN = {
    "you're": "I'm", "you are": "I am", "you've": "I've", "you'll": "I'll", "you'd": "I'd",
    "you were": "I was", "yours": "mine", "your": "my", "yourself": "myself",
}  # fmt: skip
# "you" opening a clause is the one who does something ("I think you sell the best tea" ->
# "I"); elsewhere it is the one something is done to ("I brought you a cake" -> "me").
_YOU_FORMS = re.compile(
    r"(?P<form>\b(?:you're|you are|you've|you'll|you'd|you were|yours|your|yourself)\b)"
    r"|(?P<lead>^|[,;:.!?]\s+|\b(?:and|but|that|because|when|if|so|think|thought|hope|bet|guess"
    r"|know|said|heard|before|after|unless|until|till|since|while|once|whether|as"
    # what "you" does, after what it is done to: "anything you make me", "the tea you sell"
    r"|anything|everything|something|nothing|whatever|stuff|food|tea|way)\s+)"
    r"(?P<subject>you)\b(?=\s+[a-z])"
    r"|(?P<object>(?<!thank )\byou\b)",  # ("thank you" is said as it is)
    re.IGNORECASE,
)


#: How much a line must weigh (:func:`importance`, plus 2 when a fact is read from it) for a
#: return greeting to say it back.
MEMORABLE = 4.0


def remembered_detail(lines: Sequence[str], *, chinese: bool) -> str | None:
    """A clause recalling the most memorable of a player's ``lines`` (newest last), or None.

    ``chinese`` says whether the greeting it goes into is written in Chinese.
    """
    best: tuple[float, int, str] | None = None
    index = 0
    for line in lines:
        for part in split_sentences(spelled_out(line.strip())):
            index += 1
            text = without_lead_in(_without_opening(part.strip()))
            if not text or _SMALL_TALK.match(text) or text.endswith(("?", "？")):
                continue
            facts = extract_facts(text)
            if facts and all(f.predicate == "name" for f in facts):
                continue  # the name is greeted with on its own
            score = importance(text) + (2.0 if facts else 0.0)
            if best is None or (score, index) >= (best[0], best[1]):
                best = (score, index, text)
    if best is None or best[0] < MEMORABLE:
        return None
    sentence = best[2].rstrip(".!。！…,，;；")
    if len(sentence) > 90:
        sentence = sentence[:88].rstrip() + "…"
    swapped = second_person(sentence)
    if chinese:
        return swapped if _CJK.search(swapped) else f"你说过“{sentence}”"
    if _CJK.search(swapped):
        return f"you said “{sentence}”"
    return (
        "you said " + swapped[0].lower() + swapped[1:]
        if swapped[:2] != "I "
        else "you said " + swapped
    )


# A greeting that opens a sentence ("Hi Mira, ...", "陈掌柜好，..."): said to the character, not
# something the player told about themselves.
_OPENING = re.compile(
    r"^(?:(?:hi|hello|hey|morning|evening|good (?:morning|afternoon|evening))\b[^,，.!！?？]{0,30}"
    r"|[^，,。！!？?]{0,8}(?:你好|您好|好))\s*[,，!！]\s*(?=\S)",
    re.IGNORECASE,
)


def without_lead_in(text: str) -> str:
    """``text`` without the words that open what is told and tell nothing themselves
    ("对了先跟您说一声，", "跟你说，", "by the way, ", "oh and ")."""
    return _LEAD_IN.sub("", text)


_LEAD_IN = re.compile(
    r"^(?:\s*(?:[哦噢诶哎]?对了|话说|说真的|老实说|实话说|跟[你您]说(?:一声)?|先跟[你您]说(?:一声)?"
    r"|跟[你您]讲|by the way|btw|oh and|oh,? and)[，,、\s]*)+",
    re.IGNORECASE,
)


def _without_opening(sentence: str) -> str:
    """``sentence`` without the greeting that opens it and a name the player gives right after
    ("陈掌柜好，我叫小红，在医院当护士" -> "我在医院当护士"; "I'm Tess, I repair clocks" -> "I repair
    clocks"; "I'm Ada, a blacksmith" -> "I'm a blacksmith"): a returning player is greeted by
    name anyway, and what they told is the rest. The rest keeps a subject; an English clause
    that starts some other way keeps the name clause too."""
    rest = _OPENING.sub("", sentence, count=1)
    while True:
        parts = re.split(r"[,，]\s*", rest, maxsplit=1)
        if len(parts) < 2 or not parts[1]:
            return rest
        head, after = parts
        if re.fullmatch(r"我姓[\u4e00-\u9fff]", head):
            # "我姓钱，钱有福，在菜场卖鱼的": the name is the surname and the clause after it
            more = re.split(r"[,，]\s*", after, maxsplit=1)
            if len(more) < 2 or not more[1]:
                return rest
            head, after = f"{head}，{more[0]}", more[1]
        facts = extract_facts(head)
        if not facts or any(f.predicate != "name" for f in facts):
            return rest
        if _CJK.search(head):
            # "我叫小红，在医院当护士": the clause after the name keeps its subject.
            rest = after if after[:1] in "我你他她它" else "我" + after
        elif _EN_SUBJECT.match(after):
            rest = re.sub(r"^and\s+", "", after, flags=re.IGNORECASE)
        elif _EN_APPOSITION.match(after):
            rest = "I'm " + after
        else:
            return rest


_EN_SUBJECT = re.compile(r"(?:and\s+)?(?:I\b|I'|my\b)", re.IGNORECASE)
_EN_APPOSITION = re.compile(r"(?:a|an|the|from)\b", re.IGNORECASE)


def choose_line(lines: Sequence[str], key: str) -> str:
    """One of ``lines``, picked by a stable hash of ``key`` ('' when there are none)."""
    if not lines:
        return ""
    # surrogatepass: a key that is not valid Unicode (a lone surrogate) still picks a line.
    return lines[zlib.crc32(key.encode("utf-8", "surrogatepass")) % len(lines)]
