"""Blocked-topic rules: the shipped word lists (package data in ``engine/data/``) and the
presets, compiled into rules (Latin phrases, Chinese words, linear-time regexes) and matched
over a normalised text by one matcher.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from engine.errors import PolicyError
from engine.safety.folding import normalize
from engine.text.patterns import LinearPattern, UnsupportedPatternError, compile_linear
from engine.text.script import HAN

__all__ = [
    "Matcher",
    "Rule",
    "compile_rule",
    "default_rules",
    "has_cjk",
    "mostly_chinese",
    "preset_names",
    "preset_rules",
    "topic_data",
]


@cache
def topic_data() -> dict[str, Any]:
    text = resources.files("engine").joinpath("data/safety_topics.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@dataclass(frozen=True)
class Rule:
    """One topic rule, compiled: Latin phrases (token tuples), Chinese words, regexes."""

    name: str
    phrases: tuple[tuple[str, ...], ...]
    cjk_words: tuple[str, ...]
    regex: LinearPattern | None


def has_cjk(text: str) -> bool:
    return _CJK_CHAR.search(text) is not None


def mostly_chinese(text: str) -> bool:
    cjk = len(_CJK_CHAR.findall(text))
    latin = len(re.findall(r"[A-Za-z]", text))
    return cjk > 0 and cjk * 3 >= latin


_CJK_CHAR = re.compile(f"[{HAN}]")

_TOKEN = re.compile(r"[^\W_]+")


def compile_rule(
    name: str, words: Iterable[str], patterns: Iterable[str], *, shipped: bool = False
) -> Rule | None:
    """One topic rule. ``shipped`` rules come with the engine (``engine/data``) and may use
    lookaround on ``re``; patterns from persona files and cards run on the linear-time engine."""
    phrases: list[tuple[str, ...]] = []
    cjk_words: list[str] = []
    for word in words:
        norm = normalize(word)
        if has_cjk(norm):
            cjk_words.append(norm.replace(" ", ""))
        elif tokens := tuple(_TOKEN.findall(norm)):
            phrases.append(tokens)
            if len(tokens) > 1:  # "self-harm" also matches "selfharm"
                phrases.append(("".join(tokens),))
    compiled = [f"(?:{pattern})" for pattern in patterns]
    if not (phrases or cjk_words or compiled):
        return None
    regex: LinearPattern | None = None
    if compiled and shipped:
        regex = re.compile("|".join(compiled), re.IGNORECASE)
    elif compiled:
        # Patterns from files and cards: the linear-time engine, so none can hold a turn.
        try:
            regex = compile_linear("|".join(compiled), ignore_case=True)
        except UnsupportedPatternError as exc:
            raise PolicyError(f"blocked topic {name!r}: {exc}") from None
    return Rule(name, tuple(phrases), tuple(cjk_words), regex)


class Matcher:
    """Every topic rule of a policy in one index: a text is tokenised once and its word n-grams
    looked up, Chinese words found by substring search, patterns run as regexes. Latin words
    match whole words only ("class" never trips "ass"); a plural ending is allowed."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.names = [rule.name for rule in rules]
        self.phrases: dict[tuple[str, ...], int] = {}
        self.cjk: list[tuple[str, int]] = []
        self.regexes: list[tuple[LinearPattern, int]] = []
        for index, rule in enumerate(rules):
            for phrase in rule.phrases:
                self.phrases.setdefault(phrase, index)
            self.cjk.extend((word, index) for word in rule.cjk_words)
            if rule.regex is not None:
                self.regexes.append((rule.regex, index))
        self.longest = max((len(p) for p in self.phrases), default=0)
        # Tokens that start a phrase: most tokens of a text are ruled out by one set lookup.
        self.starts = {p[0] for p in self.phrases}
        # Proper prefixes of one-word phrases: where a word split in parts ("dragon glass",
        # "DRAGON-GLASS") may begin.
        self.prefixes = {p[0][:k] for p in self.phrases if len(p) == 1 for k in range(1, len(p[0]))}

    def first(self, norm: str) -> str | None:
        hits: list[int] = []
        if self.phrases:
            tokens = _TOKEN.findall(norm)
            for i, token in enumerate(tokens):
                if token not in self.starts and (
                    token[-1] != "s" or not any(t in self.starts for t in _singular(token))
                ):
                    continue
                for n in range(1, min(self.longest, len(tokens) - i) + 1):
                    gram = tokens[i : i + n]
                    for last in (gram[-1], *_singular(gram[-1])):
                        candidate = (*gram[:-1], last)
                        if candidate in self.phrases:
                            hits.append(self.phrases[candidate])
            if self.prefixes and any(t in self.prefixes for t in tokens):
                hits.extend(self._split_words(norm))
        if self.cjk and has_cjk(norm):
            hits.extend(index for word, index in self.cjk if word in norm)
        for regex, index in self.regexes:
            if (not hits or index < min(hits)) and regex.search(norm):
                hits.append(index)
        return self.names[min(hits)] if hits else None

    def _split_words(self, norm: str) -> list[int]:
        """Rules whose one-word phrase is written in two or three parts: joined by a hyphen
        (or ``_ ~ * ·``, spaces around it allowed, or a bare ``.``), any part length; joined by
        spaces only, each part at least :data:`_MIN_SPACED_PART` letters, so that ordinary
        neighbours ("hero in" and "heroin") stay apart. Never across a line or a comma."""
        hits: list[int] = []
        words = list(_TOKEN.finditer(norm))
        for i, first in enumerate(words):
            joined = first.group(0)
            if joined not in self.prefixes:
                continue
            for j in range(i + 1, min(i + _MAX_PARTS, len(words))):
                left, right = words[j - 1], words[j]
                gap = norm[left.end() : right.start()]
                if not (
                    _JOINER.fullmatch(gap)
                    or (
                        gap == " "
                        and len(left.group(0)) >= _MIN_SPACED_PART
                        and len(right.group(0)) >= _MIN_SPACED_PART
                    )
                ):
                    break
                joined += right.group(0)
                for candidate in (joined, *_singular(joined)):
                    index = self.phrases.get((candidate,))
                    if index is not None:
                        hits.append(index)
                if joined not in self.prefixes:
                    break
        return hits


# Separators that join the parts of one word: hyphens and dashes, underscore, tilde, star, middle
# dot (spaces around them allowed), or a bare full stop ("dragon.glass", never "dragon. Glass").
_JOINER = re.compile(r" ?[-\u2010-\u2015_~*\u00b7] ?|\.")

_MIN_SPACED_PART = 3

_MAX_PARTS = 3


def _singular(word: str) -> tuple[str, ...]:
    """Forms of ``word`` without a plural ending ("bombs" -> "bomb", "casinoes" -> "casino")."""
    if len(word) > 3 and word.endswith("es"):
        return (word[:-2], word[:-1])
    if len(word) > 2 and word.endswith("s"):
        return (word[:-1],)
    return ()


@cache
def default_rules(names: tuple[str, ...]) -> tuple[Rule, ...]:
    topics = topic_data()["topics"]
    rules = [
        compile_rule(name, topics[name]["words"], topics[name]["patterns"], shipped=True)
        for name in names
    ]
    return tuple(r for r in rules if r)


@cache
def preset_rules(preset: str) -> tuple[Rule, ...]:
    specs = topic_data()["presets"][preset]
    rules = [
        compile_rule(name, spec["words"], spec["patterns"], shipped=True)
        for name, spec in specs.items()
    ]
    return tuple(r for r in rules if r)


def preset_names() -> list[str]:
    """Names of the optional rule presets (``cn_compliance``)."""
    return sorted(topic_data()["presets"])
