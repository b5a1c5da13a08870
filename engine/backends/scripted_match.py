"""How the scripted backend matches a player's line, and answers from what it remembers.

Two ideas used by :class:`engine.backends.scripted.ScriptedBackend`, both pure:

- :func:`terms` and :func:`weight`: the content words (and Chinese characters and
  two-character words) a line shares with an authored one;
- :func:`recall_answer`: when the player asks about themselves ("do you remember what I do?",
  "我最喜欢喝什么茶？"), the best match among what the prompt carries about them (its ``facts``
  and ``memories`` sections and the player's own earlier lines in ``history``), said back in
  the second person inside the persona's own returning-greeting line. Nothing is invented: the
  answer is built from the player's words, never from the question.

Example::

    recall_answer(prompt, "What's my favourite drink?")
    # "I haven't forgotten: your favourite drink is plum wine."
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from engine.dialogue import heuristics
from engine.dialogue.prompt import Prompt
from engine.persona.model import Persona
from engine.text.script import is_cjk

__all__ = [
    "asks_about_player",
    "asks_to_remember",
    "has_cjk",
    "not_told",
    "recall_answer",
    "terms",
    "weight",
]

_LATIN_WORD = re.compile(r"[a-z0-9']+")
_STOPWORDS = frozenset(
    "a an the and or but to of in on at for with is are was were be been am i you he she it we they "
    "me my your his her its our their this that these those do does did have has had what who how "
    "why when where can could would should will shall may there here so not no yes just".split()
)
_CJK_FUNCTION_CHARS = frozenset("的了是我你他她它们吗呢啊吧在有这那么什个也就都和很不一")
# Two characters holding one of these are a question word ("什么", "哪里"), not a topic.
_CJK_QUESTION_CHARS = frozenset("什么怎哪吗呢吧啊")

# Words that ask for memory rather than name what is remembered.
_MEMORY_WORDS_EN = re.compile(
    r"\b(?:remember|recall|again|know|knew|said|say|tell|told|mention(?:ed)?|forget|forgot|"
    r"bet|don't|you|your|called|name|named)\b",
    re.IGNORECASE,
)
_MEMORY_WORDS_ZH = re.compile(r"还记得|记不记得|记得|忘了|来着|您|你|吗|呢|啊")
_SELF_EN = re.compile(
    r"\b(?:my|mine|me|myself)\b|\b(?:remember|recall|forget|forgot)\b|\b(?:am|was|were) i\b|"
    r"\bwhat (?:do|did) i\b|\b(?:did|do|have) i (?:say|said|tell|told|mention)|\bwho i am\b",
    re.IGNORECASE,
)
_QUESTION_EN = re.compile(
    r"\?|^\W*(?:what|what's|where|who|which|when|how|do|does|did|am|is|are|can|could|remember|bet)\b",
    re.IGNORECASE,
)
_ASK_REMEMBER = re.compile(r"\b(?:remember|recall|forget|forgot)\b|记得|忘了|还记", re.IGNORECASE)
_QUESTION_ZH = re.compile(r"？|\?|什么|啥|哪|谁|几|多少|怎么|吗|呢|来着")
_NOT_SELF_ZH = re.compile(r"[给帮带让替请]我|我(?=们|能|可以|想|要|该|应该)")
_ASKS_NAME = re.compile(r"\bmy name\b|\bwho am i\b|我叫什么|我的名字|我是谁", re.IGNORECASE)
_FIRST_PERSON_EN = re.compile(r"\b(?:i|i'm|i've|i'd|my|me|mine)\b", re.IGNORECASE)
_CLAUSE = re.compile(r"(?<=[.!?。！？])\s*|,\s*(?:and|but|so)\s+|[;；，]\s*")
_LEADING = re.compile(r"^(?:and|but|so|oh|well)\s+", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s*")

# What a question is about, and how a remembered line says it: (question, answer) patterns.
_TOPICS: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = (
    (  # work
        re.compile(
            r"\b(?:job|work|living|occupation|profession|career|trade)\b|工作|职业|干什么|做什么|干啥|做啥|行当",
            re.IGNORECASE,
        ),
        re.compile(
            r"\bwork(?:s|ing)? (?:as|at|in)\b|\bi(?:'m| am) an? \b|\bby trade\b|\bi run\b|"
            r"当|教|工作|上班|职业|是一名|是一个|是个|司机|老师|医生|护士|师傅",
            re.IGNORECASE,
        ),
    ),
    (  # where from
        re.compile(
            r"\bfrom\b|\bhometown\b|\bgrew up\b|\bborn\b|哪里人|哪儿人|哪儿的|哪里的|老家|家乡|从哪",
            re.IGNORECASE,
        ),
        re.compile(
            r"\bfrom\b|\bgrew up\b|\bborn in\b|\bhometown\b|来自|从.{1,8}来|[\u4e00-\u9fff]人(?:$|[，。！,.!])|老家|家乡",
            re.IGNORECASE,
        ),
    ),
)


def terms(text: str) -> set[str]:
    """Content words of ``text``: Latin words (no stop words), Chinese characters and bigrams."""
    lowered = text.lower()
    words = (w.removesuffix("'s") for w in _LATIN_WORD.findall(lowered))
    found = {w for w in words if w not in _STOPWORDS and len(w) > 1}
    cjk = [c for c in lowered if is_cjk(c) and c.isalnum()]
    found.update(c for c in cjk if c not in _CJK_FUNCTION_CHARS)
    found.update(
        a + b
        for a, b in zip(cjk, cjk[1:], strict=False)
        if a not in _CJK_QUESTION_CHARS and b not in _CJK_QUESTION_CHARS
    )
    return found


def weight(shared: set[str]) -> float:
    """A shared two-character Chinese word counts double, like a whole Latin word."""
    return sum(2.0 if len(t) > 1 and is_cjk(t[0]) else 1.0 for t in shared)


def has_cjk(text: str) -> bool:
    """Whether ``text`` holds any Chinese (CJK) character."""
    return any(is_cjk(c) and c.isalnum() for c in text)


def asks_about_player(user: str) -> bool:
    """Whether ``user`` is a question about the player themselves (or what was said before)."""
    if has_cjk(user):
        return "我" in _NOT_SELF_ZH.sub("", user) and bool(_QUESTION_ZH.search(user))
    return bool(_SELF_EN.search(user)) and bool(_QUESTION_EN.search(user))


def asks_to_remember(user: str) -> bool:
    """Whether the player asks if the character remembers something about them."""
    return asks_about_player(user) and bool(_ASK_REMEMBER.search(user))


def recall_answer(prompt: Prompt, user: str) -> str | None:
    """The character saying back what it remembers that answers ``user``, or None."""
    persona = prompt.persona
    if persona is None or not asks_about_player(user):
        return None
    zh = _wants_cjk(prompt.language, user)
    formal = zh and _formal(persona)
    if _ASKS_NAME.search(user) and prompt.player:
        clause = f"{'您' if formal else '你'}是{prompt.player}" if zh else f"you're {prompt.player}"
        return _say_back(persona, prompt, clause, zh)
    best = _best_clause(prompt, user)
    if best is None:
        return None
    return _say_back(persona, prompt, _second_person(best, prompt.player, formal), zh)


def not_told(prompt: Prompt) -> str:
    """An honest line for a player who asks about something they never said."""
    persona = prompt.persona
    zh = _wants_cjk(prompt.language, prompt.user_text)
    if zh:
        return f"这个{'您' if persona and _formal(persona) else '你'}还没跟我说过呢。"
    return "Hmm, I don't think you've told me that yet."


# -- choosing what to say back ---------------------------------------------------------------


def _best_clause(prompt: Prompt, user: str) -> str | None:
    question = _MEMORY_WORDS_ZH.sub(" ", _MEMORY_WORDS_EN.sub(" ", user))
    wanted = terms(question)
    topics = [answer for asked, answer in _TOPICS if asked.search(user)]
    # "Do you remember me?" names nothing: the most memorable thing they said will do.
    anything = not wanted and not topics and bool(_ASK_REMEMBER.search(user))
    best: tuple[float, int, str] | None = None
    for order, clause in enumerate(_remembered(prompt)):
        if anything:
            score = heuristics.importance(clause)
        else:
            score = weight(_shared(wanted, terms(clause)))
            score += sum(3.0 for cue in topics if cue.search(clause))
        if score >= 1 and (best is None or score > best[0]):
            best = (score, order, clause)
    return best[2] if best else None


def _shared(wanted: set[str], have: set[str]) -> set[str]:
    # Latin words also match on a shared stem of five letters or more ("baker" / "bakery").
    shared = wanted & have
    for w in wanted - shared:
        if len(w) >= 5 and w.isascii():
            if any(
                h.isascii() and len(h) >= 5 and (h.startswith(w) or w.startswith(h)) for h in have
            ):
                shared.add(w)
    return shared


def _remembered(prompt: Prompt) -> Iterator[str]:
    """Facts first (already sentences), then memories and the player's own lines, in clauses.

    Facts arrive about the player ("Ada's cat is called Pepper"); the rest in the player's own
    first person ("I have a cat called Pepper").
    """
    persona = prompt.persona
    authored = _authored(persona) if persona else set()
    facts = prompt.section("facts")
    if facts is not None:
        for message in facts.messages:
            for line in message.content.splitlines()[1:]:
                if line.startswith("- "):
                    yield line[2:].strip()
    lines: list[str] = []
    memories = prompt.section("memories")
    if memories is not None:
        for message in memories.messages:
            lines.extend(
                row[2:].strip()
                for row in message.content.splitlines()[1:]
                if row.startswith("- ") and row[2:].strip() not in authored
            )
    history = prompt.section("history")
    if history is not None:
        lines.extend(
            m.content
            for m in reversed(history.messages)
            if m.role == "user" and m.name == prompt.player
        )
    for line in lines:
        for clause in _CLAUSE.split(heuristics.statements(line)):
            clause = _LEADING.sub("", clause.strip(" .!。！"))
            if clause and (
                ("我" in clause) if has_cjk(clause) else _FIRST_PERSON_EN.search(clause)
            ):
                yield clause


def _authored(persona: Persona) -> set[str]:
    """The persona's own lines: a memory holding one of them is the character speaking."""
    lines = {*persona.knowledge, *persona.style.catchphrases, *persona.boundaries.fallback_lines}
    lines.update(e.character for e in persona.examples)
    lines.update(persona.greetings.first_meeting)
    return {line.strip() for line in lines}


def _second_person(clause: str, player: str, formal: bool) -> str:
    """A remembered clause as the character says it to the player."""
    you = "您" if formal else "你"
    if has_cjk(clause):
        if player and clause.startswith(player):
            return you + clause[len(player) :]
        return heuristics.second_person(clause).replace("你", you)
    if player and clause.startswith(player):
        rest = clause[len(player) :]
        if rest.startswith("'s "):
            return "your " + rest[3:]
        if rest.startswith(" is "):
            return "you're " + rest[4:]
        if rest.startswith(" has "):
            return "you have " + rest[5:]
        verb, _, tail = rest.strip().partition(" ")
        return f"you {_plain_verb(verb)} {tail}".strip()
    said = heuristics.second_person(clause)
    return said[0].lower() + said[1:] if said[:2] not in ("I ", "I'") else said


def _plain_verb(verb: str) -> str:
    """'comes' -> 'come', 'watches' -> 'watch', 'carries' -> 'carry' (what 'you' takes)."""
    if verb.endswith("ies") and len(verb) > 4:
        return verb[:-3] + "y"
    if verb.endswith(("ches", "shes", "sses", "xes", "zes", "oes")):
        return verb[:-2]
    if verb.endswith("s") and not verb.endswith("ss"):
        return verb[:-1]
    return verb


def _say_back(persona: Persona, prompt: Prompt, clause: str, zh: bool) -> str:
    """``clause`` inside the persona's own 'I remember: {remembered}' line."""
    frames = [
        sentence
        for line in persona.greetings.returning
        if "{remembered}" in line and has_cjk(line) == zh
        for sentence in _SENTENCE.split(line)
        if "{remembered}" in sentence
    ]
    if frames:
        frame = heuristics.choose_line(frames, prompt.user_text)
    else:
        frame = "我记得，{remembered}。" if zh else "I remember: {remembered}."
    display = persona.display_name(prompt.language)
    return (
        frame.replace("{remembered}", clause.rstrip("。.!！，, "))
        .replace("{player_name}", prompt.player)
        .replace("{character_name}", display)
        .strip()
    )


def _formal(persona: Persona) -> bool:
    """Whether the persona addresses players as 您 rather than 你 in its own lines."""
    text = " ".join(
        [e.character for e in persona.examples]
        + persona.greetings.first_meeting
        + persona.greetings.returning
        + persona.boundaries.refusal_lines
    )
    return text.count("您") > text.count("你")


def _wants_cjk(language: str | None, user: str) -> bool:
    return language.startswith(("zh", "ja", "ko")) if language else has_cjk(user)
