"""What a reply should be grounded on: the player's remembered words and the character's knowledge.

Pure functions over text. :func:`ground` picks, for the line being answered, the few things
the character remembers the player saying about themselves and the one knowledge line most
relevant to it; the prompt places them right before the reply (small base models follow what
is nearest), the candidate choice (:mod:`engine.dialogue.choice`) prefers a reply that names them, and
:func:`compose` says one of them as the character when no candidate does.

Relevance is lexical (English words, lightly stemmed; Chinese character bigrams) plus a short
table of the kinds of things people say about themselves (work, origin, name, age, likes), so
"what do I do for a living?" finds "I'm a blacksmith" without sharing a word with it.

>>> g = ground("What do I like to drink?", player="Ada",
...            player_lines=["I'm a blacksmith. My favourite drink is plum wine."], knowledge=[])
>>> [(x.kind, x.note) for x in g]
[('memory', "Ada's favourite drink is plum wine.")]
>>> compose(g[0], language="en")
'Of course I remember: your favourite drink is plum wine.'
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from engine.dialogue import heuristics

__all__ = [
    "Ground",
    "addresses_player",
    "claims_as_own",
    "compose",
    "ground",
    "in_own_words",
    "is_small_talk",
    "speakable",
    "is_question",
    "mentions",
    "terms",
]

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
_CJK = re.compile(r"[\u3400-\u9fff]")
_STOP_EN = frozenset(
    """a an the and or but if of to in on at by for with from about as is are was were be been
    am do does did done have has had i i'm me my mine you you're your yours we our us he she it
    its they them their this that these those what which who whom whose when where why how there
    here can could would should will shall may might must not no yes so too very just also then
    than some any all more most much many one ones really know tell remember recall again ever
    still please hey hi hello oh ah well okay ok thing things like get got say said said let
    let's it's that's what's don't didn't i've i'd i'll you've you'd you'll got""".split()
)
# Characters that carry no topic on their own; a bigram holding one is not a term.
_STOP_ZH = frozenset("的了吗呢吧啊呀我你您他她它们是在有这那么什个吗嘛哦哪怎样")
# Adverbs and conjunctions that lead what they modify ("都喜欢", "也是", "还有") but end many
# names and words ("成都", "首都", "成就", "归还"): not a term when they open a bigram only.
_STOP_ZH_LEAD = frozenset("也都就还和与")


def _stem(word: str) -> str:
    if len(word) > 5 and word.endswith("ery"):
        return word[:-2]  # "bakery" -> "bake", as "baker"
    if len(word) > 4 and word.endswith("er") and word[-3] not in "aeiou":
        return word[:-1]  # "baker" -> "bake", "farmer" -> "farme" (as "farmers")
    for suffix in ("ing", "ies", "es", "ed", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)] + ("y" if suffix == "ies" else "")
    return word


def terms(text: str) -> set[str]:
    """Content terms of ``text``: stemmed English words and Chinese bigrams, stopwords removed."""
    return set(_terms(text))


# A turn grounds on the same earlier lines again and again (the last 60 turns): the terms and
# kinds of a line are worked out once, not on every turn (the event loop runs this).
@functools.lru_cache(maxsize=8192)
def _terms(text: str) -> frozenset[str]:
    low = text.lower()
    words = (w.removesuffix("'s") for w in _WORD.findall(low))  # "sister's" -> "sister"
    out = {_stem(w) for w in words if w not in _STOP_EN and len(w) > 1}
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


# The kinds of things a player says about themselves, and the words that ask about them.
_KINDS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "work",
        ("works as", "is a", "works at"),
        ("living", "work", "job", "do for", "what i do", "i do all day", "trade", "profession",
         "occupation",
         "工作", "职业", "做什么", "干什么", "哪行", "干哪", "做哪"),
    ),
    (
        "origin",
        ("comes from", "lives in"),
        ("from", "hometown", "live", "grew up", "born", "accent", "哪里人", "哪儿人", "哪儿的人",
         "哪里的人", "哪儿来", "哪里来", "打哪", "来自", "老家", "家乡", "住"),
    ),
    ("name", ("name",), ("my name", "who am i", "我的名字", "我叫什么", "怎么称呼我")),
    (
        "called",
        (),
        ("called", "'s name", "her name", "his name", "its name", "name of", "叫什么", "叫啥",
         "名字"),
    ),
    ("age", ("age",), ("old", "age", "多大", "几岁", "年纪", "岁数")),
    (
        "likes",
        ("favourite", "likes", "loves"),
        ("like", "love", "favourite", "favorite", "enjoy", "drink", "eat", "food", "喜欢", "爱", "最爱"),
    ),
)  # fmt: skip

_MEMORY_CUES = (
    "remember",
    "recall",
    "know about me",
    "told you",
    "记得",
    "记不记得",
    "还记",
    "说过",
)


@dataclass(frozen=True)
class Ground:
    """One thing a reply can be grounded on."""

    kind: Literal["memory", "knowledge"]
    note: str
    """As the prompt states it (a memory in third person: "Ada is a blacksmith")."""
    said: str
    """As the character would say it to the player (a memory in second person)."""
    keys: frozenset[str] = field(default_factory=frozenset)
    """Terms a reply must share to count as naming it."""
    score: float = 0.0
    """Relevance to the line being answered."""
    asked: bool = False
    """The line asks about it: a reply that does not name it misses the question."""
    heard: bool = False
    """Said in the line being answered ("I'm a blacksmith from the north"): news, not memory."""
    weak: frozenset[str] = field(default_factory=frozenset)
    """Key terms that do not name it on their own: the head of a detail ("tea" of "jasmine
    tea", "wine" of "plum wine"), which any talk of tea or wine would use."""


_NOT_VERBS = frozenset(
    "can could will would shall should may might must did does was were am had".split()
)


def _verb_s(match: re.Match[str], name: str) -> str:
    adverb, verb = match.group(1) or "", match.group(2)
    name = f"{name} {adverb}".rstrip()
    if verb in ("have", "do"):
        return f"{name} {'has' if verb == 'have' else 'does'}"
    if verb.lower() in _NOT_VERBS:
        return f"{name} {verb}"
    ending = "es" if verb.endswith(("s", "sh", "ch", "x", "o")) else "s"
    return f"{name} {verb}{ending}"


def _third_person(text: str, name: str) -> str:
    # "I'm Ada, a carpenter" about Ada is "Ada, a carpenter", not "Ada is Ada, a carpenter".
    text = re.sub(rf"^\s*(?:I'm|I am|[Mm]y name is|我叫|我是)\s*{re.escape(name)}\s*[,，]\s*",
                  "" if _CJK.search(text) else "I'm ", text)  # fmt: skip
    if _CJK.search(text):
        text = text if text.startswith("我") else "我" + text
        return text.replace("我们", "你们").replace("我", name)
    text = re.sub(
        r"\bI ((?:really|also|just|still|never|always|often|usually) )?(?!am\b)([a-z]+)\b",
        lambda m: _verb_s(m, name),
        text,
    )
    swaps = (
        (r"\bI am\b", f"{name} is"), (r"\bI'm\b", f"{name} is"), (r"\bI've\b", f"{name} has"),
        (r"\bI was\b", f"{name} was"), (r"\bI\b", name), (r"\b[Mm]y\b", f"{name}'s"),
        (r"\bme\b", name), (r"\bmyself\b", name),
    )  # fmt: skip
    out = text
    for pattern, repl in swaps:
        out = re.sub(pattern, repl, out)
    return out


_CLAUSE = re.compile(r"(?<=[.!?。！？；;])\s*|,?\s+and\s+(?=(?:I|I'm|my|My)\b)|[，,]\s*(?=我)")


def _sentences(lines: Iterable[str]) -> list[str]:
    """Sentences and first-person clauses ("..., and my favourite drink is plum wine")."""
    out: dict[str, None] = {}
    for line in lines:
        out.update(dict.fromkeys(_clauses(line)))
    return list(out)


@functools.lru_cache(maxsize=4096)
def _clauses(line: str) -> tuple[str, ...]:
    return tuple(p for p in (part.strip() for part in _CLAUSE.split(line.strip())) if p)


_ASKING = re.compile(
    r"[?？]|[吗呢]\s*$|^\s*(what|when|where|who|why|how|which|do you|did you|can you|could you|"
    r"tell me|remind me|guess|bet you)\b|\bremember\b|\brecall\b|什么|几点|哪|多少|怎么|为什么|谁|告诉我|记得",
    re.IGNORECASE,
)


def is_question(text: str) -> bool:
    """Whether the player's line asks something (a question mark, a question word, "tell me")."""
    return _ASKING.search(text) is not None


_PHATIC = re.compile(
    r"^\W*(?:and |so |hey |well )?how(?:'s| is| are| was| has)\s+(?:you|your|it|things|life|"
    r"everything|the day|business|work)\b|\b(?:isn't|aren't|wasn't|don't you think) (?:it|you|they|we)\W*$"
    r"|\bright\W*$|(?:最近|今天|生意)?(?:怎么样|还好吗|好吗|忙吗)[啊呀呢吧]?\W*$|是不是\W*$|对吧\W*$",
    re.IGNORECASE,
)


def is_small_talk(text: str) -> bool:
    """Whether a question only keeps the conversation going ("How's your evening going?",
    "Lovely night, isn't it?", "最近怎么样？"): it asks for no fact."""
    return _PHATIC.search(text.strip()) is not None


# A sentence that asks or dares rather than tells ("Guess what I'm drinking.", "你猜我喝的是啥。").
_ASKS_RATHER = re.compile(
    r"^\W*(?:tell me|remind me|guess|bet you|go on)\b|你猜|您猜|猜猜|考考",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=4096)
def _statement(sentence: str) -> bool:
    """A sentence in which the player says something about themselves (not a question)."""
    if sentence.rstrip().endswith(("?", "？")) or re.search(r"[吗呢]\s*[。！]?$", sentence):
        return False
    if _ASKS_RATHER.search(sentence):
        return False
    # Not only "I ..." sentences: what a player tells comes in many shapes ("Dundee, born and
    # bred.", "Her name's Ilka.", "当牙医真是费眼睛").
    return True


def _kinds_asked(question: str) -> set[str]:
    low = question.lower()
    return {kind for kind, _preds, cues in _KINDS if any(_cue_in(c, low) for c in cues)}


def _cue_in(cue: str, low: str) -> bool:
    """Whether ``cue`` is in ``low``: as whole words in English ("old" is not in "told")."""
    if _CJK.search(cue):
        return cue in low
    return re.search(rf"(?<![a-z]){re.escape(cue)}", low) is not None


# Statements of a kind that the fact patterns do not catch ("I'm a blacksmith", "我是一名医生").
_STATED = {
    "work": re.compile(
        r"\bI(?:'m| am) an? [a-z]+(?:er|or|ist|ian|smith|man|woman|cook|nurse|chef|maker)\b"
        # "I'm a midwife", "I'm a vet": what someone is, unless it is how they are.
        r"|\bI(?:'m| am) an? (?!bit\b|little\b|lot\b|big\b|huge\b|great\b|good\b|bad\b|"
        r"fan\b|new\b|real\b|total\b|tad\b|fool\b|mess\b|friend\b|guest\b|stranger\b)[a-z]{3,}\b"
        r"|\bI (?:work|teach|farm|fish|trade|sell|run|drive|cook|nurse)\b"
        r"|我(?:是一?[名个位]|在.{1,10}(?:工作|上班|教|当|做|开)|当|开.{1,4}(?:店|车))"
        r"|我?是.{0,8}(?:师|员|生|手|工|司机|老板|掌柜|护士)"
        r"|\bI(?:'m| am) [A-Z][a-z]+, an? [a-z]+"
        r"|是(?:送|开|做|卖|修|教|跑|干|当|种|养)[\u4e00-\u9fff]{1,5}的"
        r"|在[\u4e00-\u9fff]{1,10}?(?:工作|上班|打工|教)"
    ),
    "called": re.compile(
        r"\b(?:called|named|name's|name is)\s+[A-Z]|(?:叫|名叫|名字是)[\u4e00-\u9fff]"
    ),
    "origin": re.compile(
        r"\bI(?:'m| am) from\b|\bI live\b|\bfrom [A-Z][a-z]+|\bI(?:'m| am)\b[^.!?]{0,40}\bfrom\b"
        r"|\bI (?:come|came) from\b|\bI grew up\b|我(?:来自|住在|是.{1,6}人)|老家|从.{1,8}来"
    ),
}


@functools.lru_cache(maxsize=4096)
def _kinds_stated(sentence: str) -> frozenset[str]:
    found = {kind for kind, pattern in _STATED.items() if pattern.search(sentence)}
    predicates = {f.predicate.split()[0] if f.predicate.startswith("favourite") else f.predicate
                  for f in heuristics.extract_facts(sentence)}  # fmt: skip
    return frozenset(found) | {
        kind
        for kind, preds, _cues in _KINDS
        if any(p == q or p.startswith(q) for p in predicates for q in preds)
    }


# Where the detail of a statement of each kind sits ("... from Harrowdale", "是一名医生").
_DETAIL = {
    "called": re.compile(
        r"(?:\bcalled|\bnamed|\bname's|\bname is)\s+([A-Z][\w'-]*)|(?:名叫|叫|名字是)([\u4e00-\u9fff]{1,3})"
    ),
    "origin": re.compile(
        r"(?:\bfrom|\blive in|\bgrew up in|来自|住在|老家在?|从)\s*"
        r"((?:the )?[^,.;，。；]{1,30}?)(?=[,.;!?，。；！？]|$| and | but | to | up | so | where | with |来)"
        r"|我是(.{1,6}?)人"
    ),
    "work": re.compile(
        r"(?:\bI'm an?|\bI am an?|\bwork as an?|\bI (?=teach|run|drive)|是一?[名个位]?|"
        r"在.{1,10}?(?=教|当|做|开)|在(?=[\u4e00-\u9fff]{1,10}?(?:工作|上班|打工)))"
        r"\s*([\w\u3400-\u9fff'-]+)"
    ),
}


def _fact_keys(sentence: str, question_terms: set[str], kinds: frozenset[str]) -> frozenset[str]:
    for kind in sorted(kinds):
        detail = _DETAIL.get(kind)
        found = detail.search(sentence) if detail else None
        text = next((g for g in found.groups() if g), "") if found else ""
        if terms(text) - question_terms:
            return frozenset(terms(text) - question_terms)
    after = _after_shared(sentence, question_terms)
    if after:
        return after
    objects = [f.object for f in heuristics.extract_facts(sentence) if f.predicate != "name"]
    keys: set[str] = set()
    for obj in objects:
        keys |= terms(obj)
    if not keys:
        keys = terms(sentence) - question_terms
    return frozenset(keys - question_terms) or frozenset(keys)


def _heads(sentence: str, keys: frozenset[str]) -> frozenset[str]:
    """Keys right after another key in ``sentence`` (English): the head of a detail."""
    words = re.findall(r"[A-Za-z0-9][\w'-]*", sentence)
    found = [next(iter(terms(w) & keys), None) for w in words]
    return frozenset(b for a, b in zip(found, found[1:], strict=False) if a and b and a != b)


_BOUNDARY_EN = frozenset(
    "at in on by from with for to who which that and but or because so when where while".split()
)


def _after_shared(sentence: str, question_terms: set[str]) -> frozenset[str]:
    """The words right after the last word the question shares with ``sentence``: what it
    asks for ("what's my parrot called?" -> "... called [Biscuit] who says ...")."""
    if _CJK.search(sentence):
        last = -1
        for i in range(len(sentence) - 1):
            if sentence[i : i + 2] in question_terms:
                last = i + 2
        if last < 0:
            return frozenset()
        tail = re.split(r"[，。！？；、,.!?;]", sentence[last:], maxsplit=1)[0][:6]
        return frozenset(terms(tail) - question_terms)
    words = re.findall(r"[A-Za-z0-9][\w'-]*", sentence)
    last = -1
    for i, word in enumerate(words):
        if terms(word) & question_terms:
            last = i
    if last < 0:
        return frozenset()
    picked: list[str] = []
    for word in words[last + 1 :]:
        if word.lower() in _BOUNDARY_EN and picked:
            break
        if picked and picked[0][:1].isupper() and not word[:1].isupper():
            break  # a name ("Lotte is coming up"): the name is the detail
        if terms(word):
            picked.append(word)
        if len(picked) == 3:
            break
    return frozenset(terms(" ".join(picked)) - question_terms)


def ground(
    question: str,
    *,
    player: str,
    player_lines: Sequence[str],
    knowledge: Sequence[str],
    max_memories: int = 2,
    knowledge_similarity: Sequence[float] | None = None,
) -> list[Ground]:
    """The remembered statements and the one knowledge line most relevant to ``question``.

    ``player_lines`` are the player's earlier lines (oldest first; the line being answered is
    not among them), ``knowledge`` the character's knowledge and matching lore. Best first.
    ``knowledge_similarity``, when given, holds the question's semantic similarity to each
    ``knowledge`` line (an embedder's cosine, in the same order): it finds the line a question
    asks about in other words ("the big fellow hanging from the ceiling" for "the whale
    skeleton in the main hall"), fused with the words they share (see :func:`_best_knowledge`).
    """
    q_terms = terms(question)
    asking = is_question(question)
    low = question.lower()
    # A line about the player's own past asks it in the first person ("Where am I from?");
    # "What do you charge at the door? I want to bring my sister" asks about the world, the
    # first person (and "like") being only in what comes with the question.
    asks = [s for s in _sentences([question]) if is_question(s)] or [question]
    asked_kinds = frozenset(k for s in asks for k in _kinds_asked(s))
    about_memory = any(c in low for c in _MEMORY_CUES) or any(
        re.search(r"\b(I|my|me|mine)\b", s, re.IGNORECASE) or "我" in s for s in asks
    )
    out: list[Ground] = []
    memories: list[Ground] = []
    statements = [s for s in _sentences(player_lines) if _statement(s)]
    scored: list[tuple[float, str, frozenset[str], int]] = []
    for age, sentence in enumerate(reversed(statements)):
        s_terms = terms(sentence)
        kinds = _kinds_stated(sentence)
        shared = len(q_terms & s_terms)
        matched = asked_kinds & kinds
        score = shared + 2.0 * len(matched) - 0.01 * age
        if score <= 0.5:
            continue
        if kinds == {"name"} and "name" not in asked_kinds:
            continue
        if not about_memory and not shared:
            continue  # a question about the world, not about the player
        scored.append((score, sentence, matched, shared))
    # Only the best few are put into words (the rewriting is the costly part); a stable sort
    # keeps the newest first among equal scores, as before.
    scored.sort(key=lambda item: -item[0])
    for score, sentence, matched, shared in scored[:max_memories]:
        memories.append(
            Ground(
                kind="memory",
                note=_third_person(sentence, player),
                said=heuristics.second_person(sentence),
                keys=(keys := _fact_keys(sentence, q_terms, matched)),
                weak=_heads(sentence, keys),
                score=score,
                asked=asking and about_memory and (bool(matched) or shared >= 1),
            )
        )
    if not memories and asking and any(c in low for c in _MEMORY_CUES):
        # "Do you remember me?": the most memorable thing they said about themselves.
        memorable = _most_memorable(statements, q_terms)
        if memorable is not None:
            memories.append(
                Ground(
                    kind="memory",
                    note=_third_person(memorable, player),
                    said=heuristics.second_person(memorable),
                    keys=(keys := _fact_keys(memorable, q_terms, _kinds_stated(memorable))),
                    weak=_heads(memorable, keys),
                    score=1.0,
                    asked=True,
                )
            )
    if not asking and not memories:
        # The player tells something about themselves: a reply that takes it in ("A
        # blacksmith! Welcome, Ada.") reads better than one that talks past it.
        told = [s for s in _sentences([question]) if _statement(s)]
        news = _most_memorable(told, set())
        if news is not None:
            memories.append(
                Ground(
                    kind="memory",
                    note=_third_person(news, player),
                    said=heuristics.second_person(news),
                    keys=(keys := _fact_keys(news, set(), _kinds_stated(news))),
                    weak=_heads(news, keys),
                    score=0.5,
                    heard=True,
                )
            )
    memories.sort(key=lambda g: -g.score)
    out.extend(memories[:max_memories])

    kept = [(k.strip(), i) for i, k in enumerate(knowledge) if k.strip()]
    lines = [k for k, _i in kept]
    similarity = None
    if knowledge_similarity is not None and len(knowledge_similarity) == len(knowledge):
        similarity = [float(knowledge_similarity[i]) for _k, i in kept]
    q_terms = q_terms | terms(" ".join(near for t in q_terms for near in _NEAR.get(t, ())))
    if lines and (q_terms or similarity):
        best = _best_knowledge(question, q_terms, lines, similarity)
        if best is not None:
            score, i = best
            said = _best_sentence(lines[i], q_terms)
            answer_terms = _answer_keys(said, q_terms)
            out.append(
                Ground(
                    kind="knowledge",
                    note=lines[i],
                    said=said,
                    keys=answer_terms,
                    score=score,
                    asked=asking
                    and not is_small_talk(question)
                    and (not about_memory or not memories),
                )
            )
    return out


# Characters too common in Chinese to tie a question to a knowledge line on their own.
_COMMON_ZH = frozenset("一不人上下个天大小多少来去说要会能好看想很得着过到为子家年里时")
#: A lone Chinese character shared with a line counts this much of a shared bigram.
_CHAR_WEIGHT = 0.5
#: How much the semantic similarity (in standard deviations above the mean over the lines)
#: counts against the shared words (the best line's share is 1).
_SEMANTIC_WEIGHT = 0.5
#: A line no word ties to the question is taken on similarity alone when it stands this many
#: standard deviations above the others.
_SEMANTIC_ALONE = 1.5


# Worked out once per knowledge line, as its word terms are (a turn compares every line).
@functools.lru_cache(maxsize=8192)
def _chars(text: str) -> frozenset[str]:
    """The Chinese characters of ``text`` that carry a topic, as ``字:`` terms: "票" of "一张票"
    ties it to "戏票前排三十五块" where no two-character word is shared."""
    return frozenset(
        {
            f"字:{c}"
            for c in _CJK.findall(text)
            if c not in _STOP_ZH and c not in _STOP_ZH_LEAD and c not in _COMMON_ZH
        }
    )


def _best_knowledge(
    question: str, q_terms: set[str], lines: Sequence[str], similarity: Sequence[float] | None
) -> tuple[float, int] | None:
    """(score, index) of the knowledge line most relevant to ``question``, or None.

    Words: the shared terms weighted by how few lines use them (a shared Chinese character
    counts :data:`_CHAR_WEIGHT` of a shared bigram). With ``similarity``: the words' score as
    a share of the best line's, plus :data:`_SEMANTIC_WEIGHT` times the line's similarity in
    standard deviations above the mean; a line sharing no word needs :data:`_SEMANTIC_ALONE`.
    """
    q_all = q_terms | _chars(question)
    line_terms = [terms(k) | _chars(k) for k in lines]
    df: dict[str, int] = {}
    for ts in line_terms:
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
    if lexical[i] <= 0 and z[i] < _SEMANTIC_ALONE:
        return None
    return max(lexical[i], _SEMANTIC_WEIGHT * z[i]), i


# Words a question uses for what knowledge says otherwise ("tonight" for "every evening").
_NEAR: dict[str, tuple[str, ...]] = {
    "tonight": ("evening", "night"), "evening": ("tonight", "night"),
    "night": ("tonight", "evening"), "today": ("day", "daily"), "tomorrow": ("day", "morning"),
    "price": ("cost", "coin"), "cost": ("price",), "open": ("opens",), "close": ("closes", "shut"),
    "关门": ("打烊",), "打烊": ("关门",), "开门": ("开张", "营业"), "几点": ("点",),
    "今晚": ("晚上", "每晚"), "今天": ("每天",), "晚上": ("今晚", "每晚"), "价钱": ("多少",),
}  # fmt: skip


def _most_memorable(statements: Sequence[str], q_terms: set[str]) -> str | None:
    """The statement with the most to remember (a fact other than a name; newest on ties)."""
    best: tuple[float, int, str] | None = None
    for index, sentence in enumerate(statements):
        facts = [f for f in heuristics.extract_facts(sentence) if f.predicate != "name"]
        if not facts and not _kinds_stated(sentence) - {"name"}:
            continue
        score = heuristics.importance(sentence) + 2.0 * len(facts)
        if best is None or (score, index) >= best[:2]:
            best = (score, index, sentence)
    return best[2] if best else None


def _best_part(line: str, q_terms: set[str], pattern: str) -> str:
    """The part of ``line`` (split at ``pattern``) sharing most with the question (first on ties)."""
    parts = [p.strip() for p in re.split(pattern, line) if p.strip()]
    if len(parts) <= 1:
        return line
    return max(parts, key=lambda p: (len(terms(p) & q_terms), -parts.index(p)))


def _best_sentence(line: str, q_terms: set[str]) -> str:
    """The sentence of a knowledge line that shares most with the question."""
    return _best_part(line, q_terms, r"(?<=[.!?。！？；;])\s*")


_HEADER = re.compile(r"^[^:：,，]{1,40}[:：]\s*(?=\S)")


_NUMBER = r"\d|[一二两三四五六七八九十百千]|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|noon|midnight)\b"


def _answer_keys(sentence: str, q_terms: set[str]) -> frozenset[str]:
    """The terms of the clause that answers the question, the question's own terms left out
    (a list's header, "Prices at the stall:", is not a clause of it)."""
    body = _HEADER.sub("", sentence)
    clause = _best_part(body, q_terms, r"[,，、:：]\s*")
    if not re.search(_NUMBER, clause):
        # Among clauses sharing as much with the question, the one with a number answers
        # "when" and "how much" ("茶馆几点关门？": "晚上十一点打烊", not "听雨茶馆在广场东边").
        shared = len(terms(clause) & q_terms)
        parts = [p.strip() for p in re.split(r"[,，、:：]\s*", body) if p.strip()]
        counted = [p for p in parts if re.search(_NUMBER, p) and len(terms(p) & q_terms) == shared]
        if shared and counted:
            clause = counted[0]
    keys = terms(clause) - q_terms
    if len(keys) < 2 and not re.search(r"\d", clause):
        # The clause the question points at ("When snow blocks the pass,") says little of its
        # own: the answer is in what follows it.
        parts = [p.strip() for p in re.split(r"[,，、:：]\s*", body) if p.strip()]
        if clause in parts and parts.index(clause) + 1 < len(parts):
            keys |= terms(parts[parts.index(clause) + 1]) - q_terms
    return frozenset(keys or terms(sentence) - q_terms)


def mentions(text: str, item: Ground) -> float:
    """How much of ``item`` a reply names: the share of its key terms it uses, 0..1."""
    if not item.keys:
        return 0.0
    named = terms(text) & item.keys
    found = len(named)
    if item.kind == "memory" and named and named <= item.weak:
        return 0.4  # "that tea is the best in town" does not remember jasmine tea
    # A remembered detail is named by one of its terms ("plum wine", "医生"); a knowledge
    # line needs two of its answer's terms ("stage ... eight"), or all when it has fewer.
    need = 1 if item.kind == "memory" else min(len(item.keys), 2)
    if item.kind == "knowledge":
        special = _distinctive(item)
        if named & special:
            return 1.0  # the one term that answers it: "eight", "Friday", "七点"
        if special or found < need:
            # "Every week" for a stage that opens at eight; "my chest" for the blue chest
            # under the counter: near the answer, not the answer.
            return min(0.4, found / need)
    return min(1.0, found / need)


def _distinctive(item: Ground) -> set[str]:
    """Key terms that answer a question on their own: numbers, times, days, proper names
    (of the answering clause, not the line's first word)."""
    found = {t for t in item.keys if re.search(r"\d|[一二三四五六七八九十]", t)}
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
    if player and player.lower() in text.lower():
        return True
    if _CJK.search(text):
        spoken = re.sub(r"[你您]好", "", text)
        return "你" in spoken or "您" in spoken
    return re.search(r"\b(you|your|you're|yours)\b", text, re.IGNORECASE) is not None


_NUMBER_WORDS = frozenset(
    "two three four five six seven eight nine ten eleven twelve noon midnight dusk dawn "
    "monday tuesday wednesday thursday friday saturday sunday".split()
)

# A remembered detail said back; which lead is picked by the detail, so the same question
# gets the same answer and different ones do not all open alike.
_LEADS: dict[str, dict[str, tuple[str, ...]]] = {
    "memory": {
        "en": ("Of course I remember: {said}", "I haven't forgotten: {said}",
               "You told me yourself: {said}"),
        "zh": ("记得，{said}", "我记着呢，{said}", "你跟我说过，{said}"),
    },
    "knowledge": {"en": ("{said}",), "zh": ("{said}",)},
}  # fmt: skip


def speakable(item: Ground, language: str | None) -> bool:
    """Whether ``item`` can be said in ``language`` (an English knowledge line cannot be said
    to a player spoken to in Chinese, and the other way round)."""
    zh_text = _CJK.search(item.said) is not None and len(_CJK.findall(item.said)) * 2 >= len(
        _WORD.findall(item.said.lower())
    )
    want = (language or "").split("-")[0]
    if want == "zh":
        return zh_text
    if want == "en":
        return not zh_text
    return True


def _answer_part(item: Ground) -> str:
    """The part of ``item.said`` that answers: a remembered statement up to the clause naming
    the detail asked for ("you're Oskar, a carpenter from the south[, up here to ...]"); of a
    long knowledge sentence, the clause holding the answer ("Chen's tea house up the east
    steps" out of a list of five places)."""
    said = item.said.strip()
    parts = [p for p in re.split(r"(?<=[,;，；、:：])\s*", said) if p.strip()]
    if len(parts) <= 1 or not item.keys:
        return said
    hits = [i for i, p in enumerate(parts) if terms(p) & item.keys]
    if not hits:
        return said
    if item.kind == "memory":
        end = hits[-1] if len(hits) > 1 and hits[-1] - hits[0] <= 1 else hits[0]
        return "".join(p if p[-1:] in "，；、：" or not p[-1:].isascii() else p + " "
                       for p in parts[: end + 1]).strip()  # fmt: skip
    if len(said) <= 110:
        return said
    best = max(hits, key=lambda i: len(terms(parts[i]) & item.keys))
    header = _HEADER.match(said)
    part = parts[best].strip()
    if header and best:
        return f"{header.group(0).strip()} {part}"  # "Prices at the stall: lantern 5 coins"
    return part


_OWN = {
    "en": {"he": re.compile(r"\b[Hh]is\b"), "she": re.compile(r"\b[Hh]er\b(?=\s+[a-z])")},
    "zh": {"he": re.compile(r"他的"), "she": re.compile(r"她的")},
}


_DETERMINERS = frozenset(
    "The A An His Her There This That These Those Every Each When If On In At".split()
)


def in_own_words(text: str, pronouns: str | None, names: Sequence[str] = ()) -> str:
    """A knowledge line written about the character ("kept by her brother Tomas", "他的徒弟叫
    小周", "She is studying for an exam", "closes when Bram's knee says so") said by the
    character ("my brother Tomas", "我的徒弟", "I am studying for an exam", "when my knee says
    so"), when the line names no one else before the pronoun. ``names`` are the character's."""
    text = _own_name(text, names)
    if not pronouns:
        return text
    low = pronouns.lower()
    key = "she" if low.startswith(("she", "她")) else "he" if low.startswith(("he", "他")) else ""
    if not key:
        return text
    zh = _CJK.search(text) is not None
    if not zh:
        text = _SUBJECT[key].sub(lambda m: "I " + _first_person(m.group(1)), text)
    if text.startswith("I "):
        text = _AND_VERB.sub(lambda m: "and " + _first_person(m.group(1)), text)
    pattern = _OWN["zh" if zh else "en"][key]
    found = pattern.search(text)
    if found is None:
        return text
    before = re.sub(r"\b(?:on|in|at|to|from|of|near|by|across|past)\s+(?:the\s+)?(?:[A-Z][\w'-]*\s*)+",
                    " ", text[: found.start()])  # places, not people  # fmt: skip
    named = [w for w in re.findall(r"\b[A-Z][a-z]+\b", before) if w not in _DETERMINERS]
    if not zh and named:
        return text  # "Bram sells ... his stall": someone else's
    return pattern.sub("我的" if zh else lambda m: "My" if m.group(0)[0] == "H" else "my", text)


# A line that opens with the character as its subject: "She is studying ...", "He keeps ...".
_SUBJECT = {
    "she": re.compile(r"^She\s+(is|was|has|does|[a-z]{3,}s)\b"),
    "he": re.compile(r"^He\s+(is|was|has|does|[a-z]{3,}s)\b"),
}
_IRREGULAR = {"is": "am", "was": "was", "has": "have", "does": "do"}
# A second verb of the same subject: "I am studying ... and practises on ..." -> "and practise"
# (not after a plural: "lanterns and candles to the visitors" is a list of things).
_AND_VERB = re.compile(
    r"(?<!s )\band ([a-z]{3,}s)\b(?= (?:on|in|at|to|with|for|from|the|a|an|every|her|his|my|them|it)\b)"
)


def _first_person(verb: str) -> str:
    """The verb after "I" for a third-person verb: is -> am, keeps -> keep, studies -> study."""
    if verb in _IRREGULAR:
        return _IRREGULAR[verb]
    if verb.endswith("ies") and len(verb) > 4:
        return verb[:-3] + "y"
    if verb.endswith(("sses", "shes", "ches", "xes", "zes", "oes")):
        return verb[:-2]
    return verb[:-1]


def _own_name(text: str, names: Sequence[str]) -> str:
    """The character's own name in a line about them, as the character says it: "Bram's knee"
    -> "my knee", "Bram sells" -> "I sell", "陈掌柜的茶" -> "我的茶", "沈师傅每天" -> "我每天"."""
    for name in sorted({n for n in names if n}, key=len, reverse=True):
        if _CJK.search(name):
            text = re.sub(rf"^{re.escape(name)}的", "我的", text)
            text = re.sub(rf"(?<=[，。；！？,;])\s*{re.escape(name)}的", "我的", text)
            text = re.sub(rf"^{re.escape(name)}(?=[\u4e00-\u9fff])", "我", text)
            continue
        text = re.sub(rf"^{re.escape(name)}'s\b", "My", text)
        text = re.sub(rf"\b{re.escape(name)}'s\b", "my", text)
        text = re.sub(
            rf"^{re.escape(name)}\s+(is|was|has|does|[a-z]{{3,}}s)\b",
            lambda m: "I " + _first_person(m.group(1)),
            text,
        )
    return text


def compose(
    item: Ground, *, language: str | None, pronouns: str | None = None, names: Sequence[str] = ()
) -> str:
    """``item`` said as the character: a remembered statement back to the player, or the
    knowledge that answers, in the character's own words (see :func:`in_own_words`)."""
    zh = (language or "").startswith("zh")
    said = _answer_part(item).strip().rstrip(";；,，:：、")
    if item.kind == "knowledge":
        said = in_own_words(said, pronouns, names)
    if not zh and said:
        if item.kind == "memory" and not said.startswith("I "):
            said = said[0].lower() + said[1:]
        else:
            said = said[0].upper() + said[1:]
    if said and said[-1] not in ".!?。！？":
        said += "。" if zh else "."
    leads = _LEADS[item.kind]["zh" if zh else "en"]
    return heuristics.choose_line(leads, said).format(said=said)
