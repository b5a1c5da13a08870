"""How a stored fact about a player reads: one plain sentence, in English or Chinese.

A fact is kept as (subject, predicate, object): ``("Ada", "favourite drink", "plum wine")``.
Prompts, the CLI and the scripted backend show it as a sentence that keeps who it is about:

>>> fact_sentence("Ada", "favourite drink", "plum wine")
"Ada's favourite drink is plum wine"
>>> fact_sentence("Ada", "is a", "blacksmith")
'Ada is a blacksmith'
>>> fact_sentence("Ada", "cat", "Pepper")
"Ada's cat is called Pepper"
>>> fact_sentence("小明", "favourite", "龙井")
'小明最喜欢龙井'

Pure functions, no I/O.
"""

from __future__ import annotations

import re

__all__ = ["RELATION_NOUNS", "fact_sentence"]

#: Predicates that name a person or an animal in the subject's life ("Ada's sister is called
#: Juno", "Ada's sister keeps bees").
RELATION_NOUNS = frozenset(
    "sister brother mother mom mum father dad wife husband daughter son friend partner "
    "girlfriend boyfriend grandmother grandma grandfather grandpa aunt uncle cousin "
    "dog cat puppy kitten horse parrot bird rabbit hamster pet".split()
)
_CJK = re.compile(r"[\u3400-\u9fff]")
_NAME = re.compile(r"^[A-Z][\w'-]*(?: [A-Z][\w'-]*){0,2}$")
_ZH_VERBS = {
    "favourite": "最喜欢",
    "favorite": "最喜欢",
    "likes": "喜欢",
    "loves": "爱",
    "dislikes": "不喜欢",
    "comes from": "来自",
    "lives in": "住在",
    "is a": "是",
    "works as": "是",
    "plays": "会",
}


def fact_sentence(subject: str, predicate: str, obj: str) -> str:
    """The fact as a sentence about ``subject`` (no final full stop)."""
    subject, predicate, obj = subject.strip(), " ".join(predicate.split()), obj.strip()
    if _CJK.search(subject + obj):
        return _chinese(subject, predicate, obj)
    pred = predicate.lower()
    if pred == "name":
        return f"{subject}'s name is {obj}"
    if pred == "age":
        return f"{subject} is {obj} years old" if obj.isdigit() else f"{subject}'s age is {obj}"
    if pred.startswith(("favourite ", "favorite ")):
        return f"{subject}'s {predicate} is {obj}"
    if pred in RELATION_NOUNS:
        if _NAME.match(obj):
            return f"{subject}'s {predicate} is called {obj}"
        return f"{subject}'s {predicate} {obj}"
    if pred in ("is a", "works as") and not re.match(r"(?i)(a|an|the)\b", obj):
        article = "an" if obj[:1].lower() in "aeiou" else "a"
        return f"{subject} {predicate.removesuffix(' a')} {article} {obj}"
    return f"{subject} {predicate} {obj}"


def _chinese(subject: str, predicate: str, obj: str) -> str:
    pred = predicate.lower()
    if pred == "name":
        return f"{subject}叫{obj}"
    if pred == "age":
        return f"{subject}{obj}岁"
    if pred == "works at":
        return f"{subject}在{obj}工作"
    if pred in _ZH_VERBS:
        return f"{subject}{_ZH_VERBS[pred]}{obj}"
    if pred.startswith(("favourite ", "favorite ")):
        return f"{subject}最喜欢的{predicate.split(' ', 1)[1]}是{obj}"
    if _CJK.search(predicate):
        # A relation named in Chinese ("小狗", "妹妹"): 小明的小狗叫豆豆.
        return f"{subject}的{predicate}叫{obj}"
    if pred in RELATION_NOUNS:
        return f"{subject}'s {predicate}: {obj}"
    return f"{subject} {predicate} {obj}"
