"""Saying a grounded item as the character: the player's statement in the third person for the
prompt, a knowledge line in the character's own words, and :func:`compose`, the line said
when no candidate names what was asked.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from engine.dialogue import heuristics
from engine.dialogue.grounding.item import Ground
from engine.dialogue.grounding.knowledge import HEADER
from engine.dialogue.grounding.told import with_subject
from engine.dialogue.grounding.words import HAN_CHAR, PERSON_ZH, WORD, terms

__all__ = ["acknowledge", "compose", "in_own_words", "speakable", "third_person"]

_NOT_VERBS = frozenset(
    "can could will would shall should may might must did does was were am had".split()
)
#: Past tenses that do not end in -ed: "I left him" is "Ada left him", not "Ada lefts him".
_IRREGULAR_PAST = frozenset(
    """ate became began bit bought brought built came caught chose dealt drank drove dug fed
    fell felt fled flew forgot fought found froze gave got grew heard held hid hit hung hurt
    kept knew laid lay led left lent let lit lost made meant met paid put quit ran rang read
    rode rose sang sank sat saw said sent set shook shot shut slept sold spent spoke stood
    stole stuck swam swore taught thought threw told took tore understood went woke won wore
    wrote""".split()
)


_PAST_IN_EED = frozenset({"agreed", "disagreed", "freed", "guaranteed", "decreed"})
_TAKES_NO_S = _NOT_VERBS | _IRREGULAR_PAST


def _regular_past(verb: str) -> bool:
    # "moved", "agreed"; not "need", "feed", "breed", "succeed".
    verb = verb.lower()
    return verb.endswith("ed") and not verb.endswith("eed") or verb in _PAST_IN_EED


def _verb_s(match: re.Match[str], name: str) -> str:
    adverb, verb = match.group(1) or "", match.group(2)
    name = f"{name} {adverb}".rstrip()
    if verb in ("have", "do"):
        return f"{name} {'has' if verb == 'have' else 'does'}"
    if verb.lower() in _TAKES_NO_S or _regular_past(verb):
        return f"{name} {verb}"
    ending = "es" if verb.endswith(("s", "sh", "ch", "x", "o")) else "s"
    return f"{name} {verb}{ending}"


def third_person(text: str, name: str) -> str:
    # "I'm Ada, a carpenter" about Ada is "Ada, a carpenter", not "Ada is Ada, a carpenter".
    text = re.sub(rf"^\s*(?:I'm|I am|[Mm]y name is|我叫|我是)\s*{re.escape(name)}\s*[,，]\s*",
                  "" if HAN_CHAR.search(text) else "I'm ", text)  # fmt: skip
    if HAN_CHAR.search(text):
        text = with_subject(text)  # "老家四川的" is theirs; "她叫朵朵" is about her
        # (俺, the north's 我)
        return (
            text.replace("我们", "你们")
            .replace("俺们", "你们")
            .replace("我", name)
            .replace("俺", name)
        )
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


# A remembered detail said back; which lead is picked by the detail, so the same question
# gets the same answer and different ones do not all open alike.
_LEADS: dict[str, dict[str, tuple[str, ...]]] = {
    "memory": {
        "en": ("Of course I remember: {said}", "I haven't forgotten: {said}",
               "You told me yourself: {said}"),
        "zh": ("记得，{said}", "我记着呢，{said}", "你跟我说过，{said}"),
    },
    "knowledge": {"en": ("{said}",), "zh": ("{said}",)},
    # what the player has just told, taken in (when the model's reply claimed it as its own)
    "heard": {
        "en": ("{Said}? I'll remember that.", "So {said}. Good to know.",
               "{Said}, is that right? I'll remember."),
        "zh": ("原来{said}，我记住了。", "哦，{said}啊，记下了。", "{said}？好，我记着了。"),
    },
}  # fmt: skip


# News taken in without saying it back: for when saying it back would echo the player's line.
_ACKNOWLEDGED = {
    "en": ("Good to know. I'll remember that.", "I'll remember that.", "Noted. I won't forget."),
    "zh": ("好，我记住了。", "嗯，记下了。", "晓得了，我记着呢。"),
}


def acknowledge(item: Ground, language: str | None) -> str:
    """News taken in without being said back ("I'll remember that."): a statement that is most
    of the player's line, said back, would echo it."""
    zh = (language or "").startswith("zh")
    return heuristics.choose_line(_ACKNOWLEDGED["zh" if zh else "en"], item.said)


def speakable(item: Ground, language: str | None) -> bool:
    """Whether ``item`` can be said in ``language`` (an English knowledge line cannot be said
    to a player spoken to in Chinese, and the other way round)."""
    zh_text = HAN_CHAR.search(item.said) is not None and len(
        HAN_CHAR.findall(item.said)
    ) * 2 >= len(WORD.findall(item.said.lower()))
    want = (language or "").split("-")[0]
    if want == "zh":
        return zh_text
    if want == "en":
        return not zh_text
    return True


# A clause that goes on about what the clause before it named ("…, who gave her her first bird").
_RELATIVE = re.compile(r"^\W*(?:who|whom|whose|which|where|when)\b", re.IGNORECASE)


# Words that start what goes on about a detail already said ("a budgie called Captain [who
# wolf-whistles at the postman every morning]").
_GOES_ON = frozenset("who whom whose which".split())


def _up_to_key(said: str, keys: frozenset[str]) -> str:
    """An English statement of one clause up to what goes on after its last key, when that is
    long: "and a budgie called Captain who wolf-whistles at the postman every morning" ->
    "a budgie called Captain"."""
    words = list(re.finditer(r"[A-Za-z0-9][\w'-]*", said))
    last = max((i for i, w in enumerate(words) if terms(w.group()) & keys), default=-1)
    if last < 0:
        return said
    for i in range(last + 1, len(words)):
        if words[i].group().lower() in _GOES_ON:
            if len(words) - i < 4:
                return said  # little goes on: say it all
            cut = said[: words[i].start()].rstrip(" ,;")
            return re.sub(r"^(?:and|but|so)\s+", "", cut, flags=re.IGNORECASE)
    return said


def _answer_part(item: Ground) -> str:
    """The part of ``item.said`` that answers: a remembered statement up to the clause naming
    the detail asked for ("you're Oskar, a carpenter from the south[, up here to ...]"); of a
    long knowledge sentence, the clause holding the answer ("Chen's tea house up the east
    steps" out of a list of five places)."""
    said = item.said.strip()
    parts = [p for p in re.split(r"(?<=[,;，；、:：])\s*", said) if p.strip()]
    if item.kind == "memory" and len(parts) <= 1 and item.keys and not HAN_CHAR.search(said):
        return _up_to_key(said, item.keys)
    if len(parts) <= 1 or not item.keys:
        return said
    # a key of one Chinese character ("腰", "九") is no term of a clause but is in it
    hits = [
        i
        for i, p in enumerate(parts)
        if terms(p) & item.keys or any(len(k) == 1 and k in p for k in item.keys)
    ]
    if not hits:
        return said
    if item.kind == "memory":
        if len(hits) > 2 and 2 * len(hits) > len(parts):
            # The keys are the statement's own words, not one detail in it: say it all
            # ("你这人没啥爱好，就好一口黄酒，..." rather than stopping before the wine).
            return said
        end = hits[-1] if len(hits) > 1 and hits[-1] - hits[0] <= 1 else hits[0]
        start = 0
        if end == len(parts) - 1 and hits[0] > 1 and HAN_CHAR.search(said):
            # The detail is in the last clauses: said from there, not the whole line again
            # word for word ("…，在这边成的家，老婆秀兰在镇上开了个小卖部" -> "你老婆秀兰…").
            start = hits[0]
        part = "".join(p if p[-1:] in "，；、：" or not p[-1:].isascii() else p + " "
                       for p in parts[start: end + 1]).strip()  # fmt: skip
        if start and not PERSON_ZH.search(part):
            part = "你" + part
        return part
    if len(said) <= 110:
        return said
    best = max(hits, key=lambda i: len(terms(parts[i]) & item.keys))
    while best and _RELATIVE.match(parts[best]):
        best -= 1  # "who gave her her first bird" says nothing without whom it is about
        parts[best] = parts[best] + (" " if parts[best][-1:].isascii() else "") + parts[best + 1]
    header = HEADER.match(said)
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
    zh = HAN_CHAR.search(text) is not None
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
    if not zh and key == "she":
        # "her" before a word a possessive never comes before is the one it is done to:
        # "Walter gave her her first bird" -> "gave me my first bird", "taught her to fly".
        text = _HER_OBJECT.sub("me", text)
    return pattern.sub("我的" if zh else lambda m: "My" if m.group(0)[0] == "H" else "my", text)


_HER_OBJECT = re.compile(
    r"(?<=[a-z] )her\b(?=\s+(?:her|his|their|my|a|an|the|some|this|that|these|those|to|how|about"
    r"|up|out|off|back|and|or|but|when|while|because|so|for|with|from|in|on|at|into|round|around)\b"
    r"|\s*[,.;!?]|$)"
)


# A line that opens with the character as its subject: "She is studying ...", "He keeps ...".
_PAST = (
    r"[a-z]{2,}ed|went|took|came|made|got|grew|gave|began|built|ran|taught|left|kept|bought"
    r"|found|won|lost|met|learnt|spent|sold|brought|thought|became|had|did|could|would|can|will"
)
_SUBJECT = {
    "she": re.compile(rf"^She\s+(is|was|has|does|{_PAST}|[a-z]{{3,}}s)\b"),
    "he": re.compile(rf"^He\s+(is|was|has|does|{_PAST}|[a-z]{{3,}}s)\b"),
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
    if not verb.endswith("s"):
        return verb  # a past tense or a modal: "learned", "went", "can"
    if verb.endswith("ies") and len(verb) > 4:
        return verb[:-3] + "y"
    if verb.endswith(("sses", "shes", "ches", "xes", "zes", "oes")):
        return verb[:-2]
    return verb[:-1]


def _own_name(text: str, names: Sequence[str]) -> str:
    """The character's own name in a line about them, as the character says it: "Bram's knee"
    -> "my knee", "Bram sells" -> "I sell", "陈掌柜的茶" -> "我的茶", "沈师傅每天" -> "我每天"."""
    for name in sorted({n for n in names if n}, key=len, reverse=True):
        if HAN_CHAR.search(name):
            text = re.sub(rf"^{re.escape(name)}的", "我的", text)
            text = re.sub(rf"(?<=[，。；！？,;])\s*{re.escape(name)}的", "我的", text)
            # The name opening the line before a Chinese character ("沈师傅每天"): checked
            # here, not by a pattern made for each name (a class of 20,000 characters costs
            # milliseconds to compile, on the turn that first needs it).
            # Or before a number ("徐满堂1978年十六岁跟老把桩学看火").
            after = text[len(name) : len(name) + 1]
            if text.startswith(name) and ("\u4e00" <= after <= "\u9fff" or after.isdigit()):
                text = "我" + text[len(name) :]
            continue
        text = re.sub(rf"^{re.escape(name)}'s\b", "My", text)
        text = re.sub(rf"\b{re.escape(name)}'s\b", "my", text)
        text = re.sub(
            rf"^{re.escape(name)}\s+(is|was|has|does|[a-z]{{3,}}s)\b",
            lambda m: "I " + _first_person(m.group(1)),
            text,
        )
        # The name as the subject of a clause: "when Earl taps the trees" -> "when I tap"
        text = re.sub(
            rf"\b(when|while|after|before|until|till|once|because|since|if|and|so|but),?\s+"
            rf"{re.escape(name)}\s+(is|was|has|does|[a-z]{{3,}}s)\b",
            lambda m: f"{m.group(1)} I {_first_person(m.group(2))}",
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
    if item.heard:
        # Taken in, not stated: the lead ends the sentence ("You keep bees? I'll remember that.").
        said = said.rstrip(".!?。！？ ")
        leads = _LEADS["heard"]["zh" if zh else "en"]
        line = heuristics.choose_line(leads, said)
        return line.format(said=said, Said=said[:1].upper() + said[1:])
    if said and said[-1] not in ".!?。！？":
        said += "。" if zh else "."
    leads = _LEADS[item.kind]["zh" if zh else "en"]
    return heuristics.choose_line(leads, said).format(said=said)
