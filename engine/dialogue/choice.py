"""Choosing between candidate replies: what a reply must not be, and what makes one better.

Pure functions. A small model's replies vary a lot from one sample to the next; the turn
pipeline (:mod:`engine.runtime.turn`) samples a few and keeps the best. :func:`reject` names what
rules a line out: empty, prompt markup or a role label, the wrong language, an echo of the
player's line or a repeat of one of the character's recent lines. :func:`score` rates the rest
by how well they name what the character remembers and knows that bears on the question
(:mod:`engine.dialogue.grounding`), from the right perspective ("you're a blacksmith", not "I'm a
blacksmith"). A rejected line is never shown or stored, so it never reaches the history the
model sees next.

>>> reject("Do you remember me?", player_line="Do you remember me?", language="en")
'echo'
>>> reject("<player_message>", player_line="Hi", language="en")
'markup'
>>> reject("Hello there!", player_line="你好", language="zh")
'wrong language'
>>> reject("你这丫头，你这丫头，你这丫头，你这丫头", player_line="你好", language="zh")
'repetition'
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from engine.dialogue import heuristics
from engine.dialogue.grounding import Ground, claims_as_own, mentions, names_player, terms
from engine.dialogue.prompt import UNNAMED_PLAYER
from engine.text.numbers import stated
from engine.text.script import detect_language, is_cjk
from engine.text.sentences import split_sentences

__all__ = [
    "GROUNDED",
    "Rated",
    "follows",
    "greets_other",
    "has_markup",
    "parrots",
    "misnames",
    "rate",
    "reject",
    "score",
    "to_player",
    "trim",
    "unnarrate",
]

#: A reply naming at least this share of a grounding item's key terms counts as naming it.
GROUNDED = 0.5

_ROLE_WORDS = (
    "player", "user", "assistant", "system", "human", "玩家", "用户", "系统", "答", "回答",
)  # fmt: skip
_TAG = re.compile(
    r"<\s*/?\s*[A-Za-z_!|][^<>]{0,40}>?|\[/?\s*INST\s*\]|<s>|</s>|\[/?\s*SYS\s*\]", re.IGNORECASE
)
_SPOKEN = re.compile(r"[A-Za-z0-9\u3400-\u9fff]")


# Someone's line written as a script or a story: a label before a quote ('Rowan: "Hi"',
# a name the prompt does not know yet) or a stage direction ("(as he tells Rowan ...").
_SCRIPTED = re.compile(
    r"(?<![\w'-])[A-Z][a-z]+\s*[:：]\s*[\"“]|^\W*[(（*]\s*(?:as|while|when|with|he|she|they|I)\b"
)


def has_markup(text: str, names: Sequence[str] = ()) -> bool:
    """Whether ``text`` holds a prompt tag, a template token or a speaker label ("Ada:"),
    named or before a quote, or opens with a stage direction."""
    if _TAG.search(text) or _SCRIPTED.search(text):
        return True
    for name in (*names, *_ROLE_WORDS):
        if name and re.search(rf"(?<![\w'-]){re.escape(name)}\s*[:：]", text, re.IGNORECASE):
            return True
    return False


def _similar(a: str, b: str) -> float:
    a, b = " ".join(a.lower().split()), " ".join(b.lower().split())
    if not a or not b:
        return 0.0
    if len(a) >= 8 and (a in b or b in a) and min(len(a), len(b)) >= 0.6 * max(len(a), len(b)):
        return 1.0
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def parrots(text: str, player_line: str) -> bool:
    """Whether ``text`` says the player's line nearly whole again (a stricter bar than
    :func:`reject`'s echo, which also rules out a short reply built on the line's words)."""
    return _similar(text, player_line) >= PARROTS


#: How alike a line said back and the player's own are when it says nearly all of it again.
PARROTS = 0.8


def reject(
    text: str,
    *,
    player_line: str,
    language: str | None,
    names: Sequence[str] = (),
    own_lines: Sequence[str] = (),
) -> str | None:
    """Why ``text`` may not be shown as the reply to ``player_line`` (None when it may).

    ``own_lines`` are the character's recent lines: one said again is a ``repeat``.
    """
    # Every turn checks the character's recent lines again before showing them to the model:
    # the answer for the same arguments is worked out once.
    return _reject(text, player_line, language, tuple(names), tuple(own_lines))


@functools.lru_cache(maxsize=4096)
def _reject(
    text: str,
    player_line: str,
    language: str | None,
    names: tuple[str, ...],
    own_lines: tuple[str, ...],
) -> str | None:
    if not _SPOKEN.search(text):
        return "empty"
    if has_markup(text, names):
        return "markup"
    spoken = detect_language(text)
    want = (language or "").split("-")[0]
    if want in ("en", "zh") and spoken is not None and spoken != want:
        return "wrong language"
    if _REPEATING.search(text):
        return "repetition"
    if _similar(text, player_line) >= 0.6:
        return "echo"
    if any(_repeats(text, line) for line in own_lines if line):
        return "repeat"
    return None


def _repeats(text: str, own: str) -> bool:
    """Whether ``text`` says one of the character's lines again, whole or sentence by sentence
    ("是呀，阿梅！好些日子没见了。" after a greeting "哎，阿梅！好些日子没见了。……"); the
    whole line is the longest run of its sentences."""
    before = split_sentences(own)
    sep = "" if detect_language(own) == "zh" else " "
    runs = (
        sep.join(before[i:j]) for i in range(len(before)) for j in range(i + 1, len(before) + 1)
    )
    return any(_similar(text, run) >= 0.85 for run in runs)


# The same words three times over ("你这丫头，你这丫头，你这丫头", "I know, I know, I know"): a
# small model caught in a loop, which only the token limit would end.
# Short ones ("ha ha ha", "yes, yes, yes", "好好好") are speech; five times over they are not.
_REPEATING = re.compile(
    r"(\S.{3,23}?)(?:[\s,，、.。!！?？;；]*\1){2,}|(\S.{0,2}?)(?:[\s,，、.。!！?？;；]*\2){4,}",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Rated:
    """A candidate's score and what it names."""

    score: float
    grounded: float
    """How well it names the best of the items the question asks about (0..1; 1 with none)."""
    owns: bool = False
    """It names something the player said about themselves as the character's own."""
    misses_news: bool = False
    """The player just told something about themselves and it takes in neither that nor them,
    or only asks it back."""
    asks_back: bool = False
    """It only asks back what the player just told ("Do you love jasmine tea?")."""

    @property
    def good(self) -> bool:
        """Good enough to stop sampling: names what was asked, from the right perspective,
        and takes in what the player just told."""
        return self.grounded >= GROUNDED and not self.owns and not self.misses_news


def score(text: str, *, question: str, grounding: Sequence[Ground], player: str) -> Rated:
    """How good ``text`` is as an answer to ``question`` given what the character remembers and knows."""
    asked = [g for g in grounding if g.asked]
    # A remembered statement far behind the best one answers another question: naming the
    # dog's name to "what's my daughter called?" is no answer, though the dog was asked too.
    top = max((g.score for g in asked if g.kind == "memory"), default=0.0)
    best_asked = 0.0
    extra = 0.0
    owns = False
    for item in grounding:
        named = mentions(text, item)
        if item.kind == "memory" and named and claims_as_own(text, player, item):
            named *= 0.3  # "I love plum wine": the player's fact said as the character's own
            owns = True
        if item.kind == "memory" and named and _NEGATED.search(text):
            named *= 0.4  # "No, not plum wine."
        if item.asked and not (item.kind == "memory" and item.score * 2 < top):
            best_asked = max(best_asked, named)
        else:
            extra = max(extra, named)
    if best_asked and _stray_numbers(text, [g.note for g in asked]):
        # "a wish tag costs 25 coins" when the knowledge says one coin; "his 10th birthday"
        # when he turns nine
        best_asked *= 0.4
    t = terms(text)
    topical = min(1.0, len(t & terms(question)) / 3)
    brevity = -0.3 if len(t) < 2 else 0.0
    rambling = -0.5 if len(text) > 200 else 0.0
    news = [g for g in grounding if g.heard]
    taken = [g for g in news if mentions(text, g) >= GROUNDED]
    # "Do you love jasmine tea?" / "你喜欢龙井吗？" to a player who has just said so: the news
    # asked back, not taken in (one asked on from it is interest).
    asks_back = bool(taken) and _only_asks(text)
    misses = bool(news) and ((not taken and not names_player(text, player)) or asks_back)
    total = 2.0 * best_asked + 0.5 * extra + 0.3 * topical + brevity + rambling - 0.5 * owns
    total -= 0.2 * misses
    return Rated(
        score=total,
        grounded=best_asked if asked else 1.0,
        owns=owns,
        misses_news=misses,
        asks_back=asks_back,
    )


def rate(
    text: str,
    *,
    question: str,
    grounding: Sequence[Ground],
    player: str,
    language: str | None,
    names: Sequence[str] = (),
    own_lines: Sequence[str] = (),
) -> Rated | None:
    """:func:`score` for a line :func:`reject` lets through, else None."""
    if reject(text, player_line=question, language=language, names=names, own_lines=own_lines):
        return None
    if misnames(text, player, names) or greets_other(text, player, question):
        return None
    return score(text, question=question, grounding=grounding, player=player)


def misnames(text: str, player: str, names: Sequence[str]) -> bool:
    """Whether ``text`` gives the player someone else's name ("Your name is Mira", "你叫陈掌柜"),
    or the character the player's ("婆婆，我叫王磊" said back to 王磊: the player's line echoed
    as the character's own), or calls a player who gave no name by the prompt's label for them
    ("Hi, Player!"), or introduces the character by a name no one in ``names`` has ("我叫小周"
    from 陈掌柜 to a player who said "我是小周" before their name was known)."""
    if player == UNNAMED_PLAYER and re.search(rf"(?<![\w'-]){UNNAMED_PLAYER}\b", text):
        return True
    for found in _INTRODUCES.finditer(text):
        given = found.group("name") or found.group("zh")
        if not any(n and given.lower().startswith(n.lower()) for n in names):
            return True
    if player:
        own = (
            rf"\b(?:my name is|my name's|I'm|I am|call me)\s+{re.escape(player)}\b"
            rf"|我(?:叫|是|的名字是|名叫){re.escape(player)}"
        )
        if re.search(own, text, re.IGNORECASE):
            return True
    if player and player != UNNAMED_PLAYER:
        # "Yes, your name is Pepper." to Ada, asked her dog's name: whatever it gives, it is
        # not hers
        for found in _YOUR_NAME.finditer(text):
            given = found.group("name") or found.group("zh")
            if not _may_be(given, player):
                return True
    others = [n for n in names if n and n.lower() != player.lower()]
    for name in others:
        pattern = (
            rf"\b(?:your name is|you're|you are|you must be)\s+{re.escape(name)}\b"
            rf"|你(?:叫|是|的名字是){re.escape(name)}"
        )
        if re.search(pattern, text, re.IGNORECASE):
            return True
    return False


def greets_other(text: str, player: str, line: str) -> bool:
    """Whether ``text`` greets the player by the name of someone their ``line`` spoke of
    ("Hello there, Zofia." to Alex, who said his sister Zofia sent him; "你好，朵朵！" to a
    player who named her daughter 朵朵)."""
    for found in _GREETS.finditer(text):
        given = found.group("name") or found.group("zh")
        if player and _may_be(given, player):
            continue
        if re.search(rf"(?<![\w'-]){re.escape(given)}(?!\w)", line) or (
            is_cjk(given[0]) and given in line
        ):
            return True
    return False


# A greeting with the one greeted named: "Hello there, Zofia", "Hi Sam!", "welcome back, Ada";
# "你好，朵朵！", "欢迎，小周。"
_GREETS = re.compile(
    r"\b(?:[Hh]ello|[Hh]i|[Hh]ey|[Hh]owdy|[Ww]elcome(?: back)?|[Gg]ood (?:morning|afternoon|"
    r"evening|day)|[Nn]ice to meet you|[Gg]ood to see you(?: again)?)(?: there| again)?,?\s+"
    r"(?P<name>[A-Z][a-z][\w'-]*)\b(?!['’]s\b)"
    r"|(?:你好|您好|欢迎(?:光临)?|哎|嗨|哈喽)[，,！!\s]*(?P<zh>[\u4e00-\u9fff]{2,3})(?=[！!，,。？?~～])"
)


# The speaker giving their own name: "my name's Priya", "call me Dougie", "我叫小周。" (a clause
# of its own: not "我叫你…", I call you, nor "给我叫来"; "我姓陈" gives a surname, anyone's).
_INTRODUCES = re.compile(
    r"\b(?:[Mm]y name is|[Mm]y name's|[Cc]all me)\s+(?P<name>[A-Z][\w'-]*)"
    r"|(?:^|(?<=[，,。！!？?\s：:]))我(?:叫|名叫|的名字是|的名字叫)"
    r"(?P<zh>(?![你您他她它啥什])[\u4e00-\u9fff]{1,4})(?=[，,。！!？?\s~～]|$)"
)


# Giving the player a name: "your name is Pepper", "你叫豆豆" (a clause of its own, not
# "你叫我…" or "你叫什么").
_YOUR_NAME = re.compile(
    r"\b[Yy]our name(?: is|'s)\s+(?P<name>[A-Z][\w'-]*)"
    r"|(?:^|(?<=[，,。！!？?\s：:]))你(?:叫|的名字是|的名字叫)"
    r"(?P<zh>(?![我你您他她它啥什])[\u4e00-\u9fff]{1,4})(?=[，,。！!？?\s~～]|$)"
)


def _may_be(given: str, player: str) -> bool:
    """Whether ``given`` may be what ``player`` is called: their name or part of it, or a
    nickname of it ("Rob" of "Robbie", "阿怡" or "嘉怡" of "陈嘉怡")."""
    if is_cjk(given[0]):
        return bool(set(given) & set(player))
    return any(
        word[:3].lower() == given[:3].lower() for word in re.findall(r"[\w'-]+", player) if word
    )


def _only_asks(text: str) -> bool:
    """Whether ``text`` is one question and nothing else ("You love jasmine tea? Which
    kind?" asks on, which is interest)."""
    sentences = split_sentences(text)
    return len(sentences) == 1 and sentences[0].rstrip(" \"'”」)）").endswith(("?", "？"))


_NEGATED = re.compile(r"^\s*no\b|\bnot\b|n't\b|\bnever\b|不是|没有|不记得|忘了", re.IGNORECASE)


def _stray_numbers(text: str, notes: Sequence[str]) -> bool:
    """Whether ``text`` states a number that none of ``notes`` holds (a made-up time or price:
    "七点四十五" when the train leaves at 七点二十, "二十五块" when the fare is 二十五块五)."""
    if not notes:
        return False
    known = {n for note in notes for n in stated(note)}
    return any(n not in known for n in stated(text))


def to_player(text: str, grounding: Sequence[Ground], player: str) -> str | None:
    """``text`` turned to the player when it names a remembered detail as the character's own.

    "I like plum wine, it's a rich drink." -> "You like plum wine, it's a rich drink.": the
    model found the detail and only mixed up who said it. None when there is nothing to turn
    (no remembered detail named, or the line already speaks to the player).
    """
    if not any(
        g.kind == "memory" and g.asked and mentions(text, g) and claims_as_own(text, player, g)
        for g in grounding
    ):
        return None
    turned = heuristics.second_person(text)
    return turned[0].upper() + turned[1:] if turned and turned[0].islower() else turned


_NARRATED = re.compile(
    r'^\s*["“](?P<said>[^"“”]{2,}?)(?P<stop>[,.!?]?)["”]\s*,?\s*(?:I|he|she|they|[A-Z][a-z]+)\s+'
    r"(?:said|says|asked|asks|replied|replies|answered|answers|whispered|laughed|smiled)\b[^.!?]*[.!?]?"
    r"\s*(?P<rest>.*)$",
    re.DOTALL,
)


def unnarrate(text: str) -> str:
    """The spoken words of a line a model wrote as a story ('"You're a baker," I said.' ->
    "You're a baker."); other lines unchanged. A character speaks; it does not narrate."""
    found = _NARRATED.match(text)
    if found is None:
        return text
    said = found.group("said").strip()
    stop = found.group("stop")
    said += stop if stop in ("!", "?") else "."
    rest = found.group("rest").strip().strip('"“”')
    return f"{said} {rest}".strip() if rest and not _NARRATED.match(rest) else said


def trim(text: str, max_sentences: int) -> str:
    """The first ``max_sentences`` sentences of ``text``, without a trailing unfinished clause."""
    text = unnarrate(text)
    sentences = split_sentences(text)
    if not sentences:
        return text.strip()
    kept = sentences[:max_sentences]
    if len(kept) > 1 and kept[-1][-1:] not in ".!?。！？…\"”'」":
        kept = kept[:-1]
    joined = ""
    for sentence in kept:
        cjk = joined and (ord(joined[-1]) > 0x2E80 or ord(sentence[0]) > 0x2E80)
        joined += ("" if not joined or cjk else " ") + sentence
    return joined


def follows(
    sentence: str,
    *,
    said: Sequence[str],
    question: str,
    grounding: Sequence[Ground],
    player: str,
    language: str | None,
    names: Sequence[str] = (),
) -> bool:
    """Whether the model's next ``sentence`` may follow what was ``said`` already in a reply.

    Not when :func:`reject` rules it out, when it nearly repeats a sentence already said, claims
    the player's remembered detail as the character's own, or states a number the knowledge
    asked about does not hold (a made-up time or price after a right one).
    """
    if reject(sentence, player_line=question, language=language, names=names):
        return False
    if misnames(sentence, player, names) or greets_other(sentence, player, question):
        return False
    for before in said:
        if any(_similar(sentence, s) >= 0.6 for s in split_sentences(before)):
            return False
    for item in grounding:
        if (
            item.kind == "memory"
            and mentions(sentence, item)
            and claims_as_own(sentence, player, item)
        ):
            return False
    notes = [g.note for g in grounding if g.asked and g.kind == "knowledge"]
    return not _stray_numbers(sentence, notes)
