""":func:`ground`: for the line being answered, the few things the player told that it asks
about (or that the line itself tells) and the one knowledge line that answers it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from engine.dialogue import heuristics
from engine.dialogue.grounding.asking import MEMORY_CUES, is_question, is_small_talk, kinds_asked
from engine.dialogue.grounding.item import Ground
from engine.dialogue.grounding.knowledge import (
    answer_keys,
    aside_keys,
    asked_types,
    best_knowledge,
    best_sentence,
    near_words,
    rarity,
)
from engine.dialogue.grounding.related import NAMED_KINDS, related
from engine.dialogue.grounding.saying import third_person
from engine.dialogue.grounding.statements import (
    is_statement,
    reason_after,
    sentences,
    statements,
    without_address,
)
from engine.dialogue.grounding.times import names_day, names_month, times_named
from engine.dialogue.grounding.told import (
    answers_held,
    fact_keys,
    heads,
    kinds_stated,
    most_memorable,
    news_keys,
    with_subject,
)
from engine.dialogue.grounding.words import HAN_CHAR, terms
from engine.text.spelling import spelled_out

__all__ = ["ground"]

# Words of a follow-up that asks for what was said before ("还记得吗？", "Remember?").
_MEMORY_WORDS = frozenset(terms(" ".join(MEMORY_CUES)) | terms("again 来着 记得 还记得"))

#: What a word the question shares with a statement counts for when it is not in the sentence
#: that asks but in one that comes with it (a word of the asking sentence counts 1), while the
#: asking sentence shares a word with some statement.
_CONTEXT_WEIGHT = 0.4

#: What naming the same kind of thing as the question counts for ("my girl" and "my daughter
#: Ffion"): more than one shared word, less than telling the kind of thing asked (2).
_RELATED_WEIGHT = 1.5


# Asking one's own age: "how old am I?", "我多大岁数了？" (not "how old will she be?").
_OWN_AGE = re.compile(
    r"\bhow old (?:am|was|will|would) I\b|\bhow old I am\b|\bwhat age (?:am|was|will) I\b"
    r"|\bmy age\b|我(?:今年)?有?(?:多大|几岁|多少岁|岁数|年纪)",
    re.IGNORECASE,
)


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
    skeleton in the main hall"), fused with the words they share (see :func:`best_knowledge`).
    """
    question = without_address(spelled_out(question))
    q_terms = terms(question)
    asking = is_question(question)
    low = question.lower()
    # A follow-up that points back at the question before it ("and how old's she going to
    # be?" after "when's our Ellie's birthday?", "那我去那边是干什么？"): about what that was.
    before = player_lines[-1] if player_lines else ""
    goes_on = asking and is_question(before) and _POINTS_BACK.search(question) is not None
    follow_up = (
        goes_on
        and _TO_CHARACTER.search(question) is None
        and len(question) <= 60
        # "and how much is a kid's one?" asks a price, whatever the question before asked
        and _WORLD_ASKED_EN.match(question) is None
    )
    # A line about the player's own past asks it in the first person ("Where am I from?");
    # "What do you charge at the door? I want to bring my sister" asks about the world, the
    # first person (and "like") being only in what comes with the question.
    asks = [s for s in sentences([question]) if is_question(s)] or [question]
    # The kind asked is in the sentence that asks, or, when that is a bare follow-up with no
    # word of its own ("Where was it again?"), in what comes with it ("You'd never guess
    # where I was born from my accent now."), which then also says whom it is about.
    asked_kinds = frozenset(k for s in asks for k in kinds_asked(s))
    about_player = any(_about_player(s) for s in asks)
    if (
        not about_player
        and asked_kinds & {"called", "age"}
        and any(_SOMEONE.search(s) for s in asks)
    ):
        # "my grumpy little shell-on-legs is sulking again. what's his name?": whose "his" is
        # is said in what comes with the question; "your dog's after my sliotar again. what's
        # her name?" asks the name of the character's own
        about_player = _about_player(question) and not _yours(question)
    if not asked_kinds and not terms(" ".join(asks)) - _MEMORY_WORDS:
        asked_kinds = frozenset(kinds_asked(question))
        about_player = about_player or bool(asked_kinds) and _about_player(question)
    if (
        not about_player
        and asked_kinds & {"diet", "health"}
        and re.search(r"\bI\b|[我俺]", question) is not None
    ):
        # "what should I avoid eating at the festival?" asks advice that hangs on what they
        # told of their own diet or health
        about_player = True
    about_memory = any(c in low for c in MEMORY_CUES) or about_player
    if follow_up and not about_memory:
        about_memory = any(c in before.lower() for c in MEMORY_CUES) or _about_player(before)
    if (
        not about_memory
        and asking
        and asked_kinds
        and is_question(before)
        and _about_player(before)
        and related(before) & NAMED_KINDS
        # "he" or "she" in the sentence that asks ("what are they called?" after "she wants
        # to see the horses" asks of the horses, not of her)
        and any(_HIM_OR_HER.search(s) for s in asks)
        and _TO_CHARACTER.search(question) is None
    ):
        # "他今年多大了？" right after "我那大孙子叫啥来着？": about the one just asked of
        about_memory = True
    why = _WHY.search(" ".join(asks)) is not None
    if why:
        # "您猜我为嘛不喝您那酒？" asks a reason: not what they like to drink, though it says 喝;
        # "why can't I eat any of this?" is answered by what they told of their health
        # and "我为啥不能染头发？", by an allergy: what keeps one from doing a thing is
        # what they told of their health or what they must keep away from
        cannot = _CANNOT.search(" ".join(asks)) is not None
        asked_kinds = (
            frozenset({"diet", "health"}) if "diet" in asked_kinds or cannot else frozenset()
        )
    out: list[Ground] = []
    memories: list[Ground] = []
    told_before = statements(player_lines)
    scored: list[tuple[float, str, frozenset[str], int, frozenset[str]]] = []
    # Words of the sentence that asks weigh more than those of what comes with it ("Siobhan
    # says I'm murdering that instrument every night. Which one was it I'm learning?"), when
    # any statement has one; "Who was it?" has none, and then every word counts alike.
    ask_terms = terms(" ".join(asks))
    context = (
        _CONTEXT_WEIGHT if any(ask_terms & terms(sentence) for sentence in told_before) else 1.0
    )
    if (
        follow_up
        and context == 1.0
        and (
            not asked_kinds
            # (a name or an age asked of "she" or "he" is of the one the question before named)
            or not asked_kinds & {"age", "called"}
            and not any(asked_kinds & kinds_stated(s) for s in told_before)
        )
    ):
        # A bare follow-up ("and what was that?"), or one asking what was never told ("那我跟
        # 谁去来着？" after "我哪天去成都来着？"): its words are those of the question before.
        q_terms = q_terms | terms(before)
    # The kinds of thing the question names ("my dog" for "my whippet Noodle", "喝" for "毛尖").
    q_related = related(" ".join(asks))
    # The kind of one a bare "what's her name?" asks of: named in what comes with it ("your
    # dog's after robbing my sliotar again. what's her name?"), so the sister's is no answer.
    q_named = q_related & NAMED_KINDS
    if not q_named and asked_kinds & {"called", "age"} and any(_SOMEONE.search(s) for s in asks):
        q_named = related(question) & NAMED_KINDS
    # Words of the character's own world ("could my nephew do the hawk walk?"): a statement
    # that shares only those with a question that does not ask what was told ("not many
    # hawks") is no answer to it.
    cued = any(c in low for c in MEMORY_CUES)
    world, world_kinds = _world(tuple(knowledge)) if not cued else (frozenset(), frozenset())
    asked_times = times_named(" ".join(asks))
    month_asked = _MONTH_ASKED.search(" ".join(asks)) is not None
    day_asked = _DAY_ASKED.search(" ".join(asks)) is not None
    own_age = any(_OWN_AGE.search(s) for s in asks)
    for age, sentence in enumerate(reversed(told_before)):
        s_terms = terms(sentence)
        kinds = kinds_stated(sentence)
        same_kind = bool(q_related & related(sentence))
        # the same time named ("我下个月去哪儿来着？" of "下个月带我妈去大理转转")
        same_time = bool(asked_times and asked_times & times_named(sentence))
        shared = len(q_terms & s_terms) + same_kind + same_time
        in_ask = len(ask_terms & s_terms)
        matched = asked_kinds & kinds
        if "when" in matched and month_asked and not names_month(sentence):
            matched -= {"when"}  # "which month?" is not answered by "on Thursday"
        if "when" in matched and day_asked and not names_day(sentence):
            matched -= {"when"}  # "哪天走？" is not answered by "明年还想来"
        if "age" in matched and own_age and related(sentence) & NAMED_KINDS:
            # "我多大岁数了？" is not answered by "带我那小孙子豆豆来的，六岁": whose age it
            # tells is one the question does not name
            matched -= {"age"}
        if (
            "called" in matched
            and not same_kind
            and q_named
            and not q_named & related(sentence)
            and related(sentence) & NAMED_KINDS
        ):
            # "my pup back home, what's he called?" asks the dog's name, not the sister's
            matched -= {"called"}
        score = (
            in_ask
            + context * (shared - same_kind - in_ask)
            + _RELATED_WEIGHT * same_kind
            + 2.0 * len(matched)
            - 0.01 * age
        )
        if score <= 0.5:
            continue
        if kinds == {"name"} and "name" not in asked_kinds:
            continue
        if not about_memory and not shared:
            continue  # a question about the world, not about the player
        if (
            not cued
            and not matched
            and q_terms & s_terms <= world
            and q_related & related(sentence) <= world_kinds
        ):
            continue  # it shares only words of the character's world
        scored.append((score, sentence, matched, shared, q_related & related(sentence)))
    # Only the best few are put into words (the rewriting is the costly part); a stable sort
    # keeps the newest first among equal scores, as before.
    scored.sort(key=lambda item: -item[0])
    for score, sentence, matched, shared, linked in scored[:max_memories]:
        asked = asking and about_memory and (bool(matched) or shared >= 1)
        # The value asked for ("where" of "在广州开花店") is what a reply must name.
        keyed = matched | answers_held(asked_kinds, sentence) if asked else matched
        reason = reason_after(player_lines, sentence) if asked and why else None
        memories.append(
            _told(sentence, player, q_terms, keyed, score, asked=asked, linked=linked,
                  reason=reason)
        )  # fmt: skip
    if not memories and asking and any(c in low for c in MEMORY_CUES):
        # "Do you remember me?": the most memorable thing they said about themselves.
        memorable = most_memorable(told_before, q_terms)
        if memorable is not None:
            kinds = kinds_stated(memorable)
            if asked_kinds and "name" not in asked_kinds:
                kinds -= {"name"}  # asked what they do, not who they are: the name is no answer
            memories.append(_told(memorable, player, q_terms, kinds, 1.0, asked=True))
    if not asking and not memories:
        # The player tells something about themselves: a reply that takes it in ("A
        # blacksmith! Welcome, Ada.") reads better than one that talks past it.
        told = [s for s in sentences([question]) if is_statement(s)]
        news = most_memorable(told, set())
        if news is not None:
            memories.append(_told(news, player, set(), kinds_stated(news), 0.5, heard=True))
    memories.sort(key=lambda g: -g.score)
    out.extend(memories[:max_memories])

    if about_player and asking and asked_kinds and not memories and _RECALLS.search(low):
        # "我老婆叫啥来着？" never told: nothing the character knows of its own world answers
        # it (the line about its own wife's bells did), and saying so is the honest reply.
        return out
    kept = [(k.strip(), i) for i, k in enumerate(knowledge) if k.strip()]
    lines = [k for k, _i in kept]
    similarity = None
    if knowledge_similarity is not None and len(knowledge_similarity) == len(knowledge):
        similarity = [float(knowledge_similarity[i]) for _k, i in kept]
    q_terms = q_terms | terms(" ".join(near for t in q_terms for near in near_words(t)))
    if goes_on:
        # "and what time do you have to be down there for that?" asks on about what the
        # question before named ("which bird chases the gulls off the fish quay?")
        q_terms = q_terms | terms(before)
    if lines and (q_terms or similarity):
        best = best_knowledge(question, q_terms, lines, similarity)
        if best is not None:
            score, i = best
            types = asked_types(question)
            # words of the sentence that asks count more than those around it ("Is there a
            # day you don't fly them? I only get one day off")
            rare = {
                t: w * (1.0 if t in ask_terms else _CONTEXT_WEIGHT)
                for t, w in rarity(tuple(lines)).items()
            }
            said = best_sentence(lines[i], q_terms, rare, types)
            answer_terms = answer_keys(said, q_terms, types, rare)
            out.append(
                Ground(
                    kind="knowledge",
                    note=lines[i],
                    said=said,
                    keys=answer_terms,
                    weak=aside_keys(said, q_terms, answer_terms),
                    score=score,
                    asked=asking
                    and not is_small_talk(question)
                    and (not about_memory or not memories),
                )
            )
    return out


@functools.lru_cache(maxsize=256)
def _world(knowledge: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str]]:
    """The words and the kinds of thing of a character's knowledge (the same lines every turn)."""
    return (
        frozenset().union(*(terms(k) for k in knowledge)),
        frozenset().union(*(related(k) for k in knowledge)),
    )


# What opens a short question that goes on from the one before: "and …", "so …", "那…".
_POINTS_BACK = re.compile(
    r"^\W*(?:and|so|then|but|also|what about|how about)\b|^\W*(?:那么|还有|然后|那(?!"
    # "那匹马", "那个网", "那家店": "that" one, not "then"
    r"[一两几]?[个匹只条位家张把件本辆头间座棵块台部支首场次些口艘所根片]))",
    re.IGNORECASE,
)
# A question that asks to be reminded of something ("…来着？", "what's my wife called
# again?", "do you remember …"), not one that only mentions the player's people.
_RECALLS = re.compile("|".join([*MEMORY_CUES, "来着", r"\bagain\b"]))

# Someone or something the question names by a pronoun, said in what comes with it.
_SOMEONE = re.compile(r"\b(?:his|her|he|she|him|its)\b|[他她它]", re.IGNORECASE)

# A question for the month: "which month?", "几月份？"
_WHY = re.compile(r"\b(?:why|how come)\b|为什么|为啥|为嘛|咋不|怎么不", re.IGNORECASE)
_CANNOT = re.compile(
    r"\b(?:can't|cannot|can not|mustn't|shouldn't|couldn't)\b|不能|不可以|不敢|没法|不让",
    re.IGNORECASE,
)
_MONTH_ASKED = re.compile(r"\b(?:which|what) month\b|几月|哪个月", re.IGNORECASE)
_DAY_ASKED = re.compile(r"\b(?:which|what) (?:day|date)\b|哪天|哪一天|几号|哪号", re.IGNORECASE)

# "He" or "she": someone named before.
_HIM_OR_HER = re.compile(r"\b(?:he|she|him|her|his)\b|[他她]", re.IGNORECASE)

# A question to the character ("and do you …?") asks about them or their world, not the player.
_TO_CHARACTER = re.compile(r"\b(?:you|your|yours|you're|you've)\b|[你您]", re.IGNORECASE)

# A question about the world put in the player's words: what something costs, when or how
# long, or about the character's own things ("我上班倒班不固定，您这铺子每周哪天歇着啊？").
_WORLD_ASKED = re.compile(
    r"多少钱|几点|哪天|多久|多远|几号|几趟|怎么走|[你您](?:这|们|家|的|店|铺)"
    # what it costs, asked in other words: "拉坯是怎么收费的？", "这个怎么卖？"
    r"|收费|怎么卖|什么价|价钱|价格|多少块|几块钱"
)
# The player as the one who would do something, not as what they told: "What's the latest
# boat I can get?", "If I fancy a pint, where should I head?".
_HYPOTHETICAL_I = re.compile(
    r"\b(?:can|could|should|shall|would|will|may|might|if|say) I\b"
    # asking how a thing is done: "How do I know what length to get him?"
    r"|\bhow (?:do|would) I (?:know|tell|pick|choose|find|size|measure|fix|keep|look after|use|get to)\b"
    r"|\bI(?:'d|'ll| can(?!'t)| could(?!n't)| should(?!n't)| would(?!n't)| will| may| might)\b",
    re.IGNORECASE,
)


def _about_player(sentence: str) -> bool:
    """Whether a sentence that asks asks about the player (in the first person)."""
    if HAN_CHAR.search(sentence):
        clauses = [c for c in re.split(r"[，,]", sentence) if c.strip()]
        asking = [c for c in clauses if is_question(c)]
        if len(clauses) > 1 and asking and _WORLD_ASKED.search(asking[-1]):
            return re.search("[我俺]", asking[-1]) is not None
        # ("俺家那口子": the north's 我; "咱家那狗": our family's)
        return re.search("[我俺]|咱家", sentence) is not None
    if _WORLD_ASKED_EN.match(sentence):
        return False  # "how much is it for my daughter to get in?" asks a price
    return (
        re.search(r"\b(I|my|mine)\b", _HYPOTHETICAL_I.sub(" ", sentence), re.IGNORECASE) is not None
        or _THE_FOR_MY.search(sentence) is not None
        # (asking leave to bring them, "can I bring our spaniel?", asks a rule of the place)
        or not _HYPOTHETICAL_I.search(sentence)
        and any(_ours(found.group(1)) for found in _OUR.finditer(sentence))
    )


# "our moggy", "our Ellie", "our eldest": one of the player's household (not "our bus", which
# may be the character's and the player's alike).
_OUR = re.compile(r"\b[Oo]ur\s+((?:[\w'-]+\s+)?[\w'-]+)")


def _ours(words: str) -> bool:
    first = words.split()[0]
    return bool(related(words) & NAMED_KINDS) or (first[0].isupper() and first != "I")


# "your dog", "your little fella", "你家狗", "您的猫": one the character has.
_YOUR = re.compile(
    r"\byour\s+((?:[\w'-]+\s+){0,2}[\w'-]+)|[你您](?:的|家的?)?((?:(?![我俺])[\u4e00-\u9fff]){1,4})",
    re.IGNORECASE,
)


def _yours(line: str) -> bool:
    """Whether ``line`` names someone the character has (a pet, a relative): "your dog"."""
    return any(
        related(found.group(1) or found.group(2)) & NAMED_KINDS for found in _YOUR.finditer(line)
    )


# "the missus", "the wife": one's own, as many English speakers put it. (Not "the kids": "do
# the kids get charged?" asks a rule of the place.)
_THE_FOR_MY = re.compile(r"\bthe (?:missus|missis|wife|husband|hubby|other half)\b", re.IGNORECASE)


# What something costs or when it is, asked of the character's world, whoever it is for.
_WORLD_ASKED_EN = re.compile(
    r"^\W*(?:(?:and|so|but|then|ok|okay|right)\b\W*)?"
    r"(?:how much (?:is|does|do|will|would)\b(?!\s+i\b)|what time (?:is|does|do|can|will)\b"
    r"|when (?:does|do) (?:you|it|the|they)\b|what (?:does|do|will) (?:it|you) (?:cost|charge)\b)",
    re.IGNORECASE,
)


@functools.lru_cache(maxsize=1024)
def _voices(told: str, player: str) -> tuple[str, str]:
    """A statement about the player (for the prompt) and to them (for the reply): the same few
    statements answer turn after turn (cached)."""
    return third_person(told, player), heuristics.second_person(told)


def _told(
    sentence: str,
    player: str,
    q_terms: set[str],
    kinds: frozenset[str],
    score: float,
    *,
    asked: bool = False,
    heard: bool = False,
    linked: frozenset[str] = frozenset(),
    reason: str | None = None,
) -> Ground:
    """A statement of the player's as a memory item: about them for the prompt, to them for
    the reply, with the words (of ``kinds``' detail, not the question's) that show it named.
    ``linked``: the kinds of thing the question and the statement both name (``@vehicle``);
    when nothing else says which words answer, the clauses naming them do ("那台解放开了八年"
    of "刚从广州拉了一车货回来，那台解放开了八年，还挺皮实", asked about the truck)."""
    if reason is not None:
        # Asked why: the reason told right after it is the answer, and is said with it.
        sentence = f"{sentence}{'，' if HAN_CHAR.search(sentence) else ' '}{reason}"
        keys = fact_keys(reason, q_terms, kinds_stated(reason))
    else:
        keys = news_keys(sentence, kinds) if heard else fact_keys(sentence, q_terms, kinds)
    if not kinds and linked and keys == frozenset(terms(sentence) - q_terms):
        clauses = [c for c in re.split(r"[,，;；]\s*", sentence) if related(c) & linked]
        near = frozenset(terms(" ".join(clauses))) - q_terms
        if clauses and len(clauses) < len(re.split(r"[,，;；]\s*", sentence)) and near:
            keys = near
    if "name" not in kinds:
        # Calling the player by name does not say what they do or like ("我记得你那个叫阿梅的狗"
        # named no job): their name is a key only when the question asks it.
        own = terms(player)
        keys = keys - own or frozenset(terms(sentence) - q_terms - own) or keys
    # Told without "I" (我): said back to them as "you". A Chinese sentence with no person in it
    # is theirs only when it tells something of a kind ("平时就爱下两盘象棋", not "最近天气说变就变").
    told = (
        with_subject(sentence)
        if kinds_stated(sentence) or not HAN_CHAR.search(sentence)
        else sentence
    )
    note, said = _voices(told, player)
    return Ground(
        kind="memory",
        note=note,
        said=said,
        keys=keys,
        weak=heads(sentence, keys),
        score=score,
        asked=asked,
        heard=heard,
    )
