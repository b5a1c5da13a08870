""":class:`Policy`, what a world allows (age rating, blocked topics, presets, the injection
guard, personal information, reply length), and :class:`Verdict`, the answer of a check.
"""

from __future__ import annotations

import re
import zlib
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from engine.errors import PolicyError
from engine.persona.model import BlockedTopic
from engine.safety.folding import normalize
from engine.safety.topics import (
    Matcher,
    Rule,
    compile_rule,
    default_rules,
    has_cjk,
    mostly_chinese,
    preset_names,
    preset_rules,
    topic_data,
)

if TYPE_CHECKING:
    from engine.persona.model import Persona

__all__ = ["AgeRating", "Category", "Policy", "Verdict"]

AgeRating = Literal["all", "teen", "mature"]

Category = Literal["topic", "injection", "pii", "length"]

# Lower is stricter: combining two policies keeps the lower.
_STRICTNESS: dict[str, int] = {"all": 0, "teen": 1, "mature": 2}


class Policy(BaseModel):
    """What a world or a character allows. Combine two with :meth:`combine`: the stricter wins.

    Built from a persona file with :meth:`from_persona`; a world policy is usually written in
    code or in the world's settings::

        world = Policy(age_rating="teen", presets=("cn_compliance",))
        policy = Policy.from_persona(persona, world)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    age_rating: AgeRating = Field(
        "teen", description="Audience rating; selects the default blocked topics."
    )
    default_topics: bool = Field(
        True, description="Block the default topic categories of the age rating."
    )
    blocked_topics: tuple[BlockedTopic, ...] = Field(
        (), description="Extra blocked topics (words, patterns)."
    )
    presets: tuple[str, ...] = Field((), description="Optional rule presets, e.g. 'cn_compliance'.")
    redact_pii: bool = Field(True, description="Redact personal information from input and output.")
    guard_injection: bool = Field(
        True, description="Detect and neutralise prompt injection in player text."
    )
    max_reply_chars: int | None = Field(
        None, ge=1, description="Longest reply in characters; None is unlimited."
    )
    refusal_lines: tuple[str, ...] = Field(
        (), description="In-character lines used when something is blocked."
    )
    language: str | None = Field(
        None, description="The character's primary language, for default refusals."
    )
    speaker_names: tuple[str, ...] = Field(
        (),
        description="The character's names; a player line starting with one is a fake transcript line.",
    )

    _rules: tuple[Rule, ...] = PrivateAttr(default=())
    _matcher: Matcher | None = PrivateAttr(default=None)
    _speaker_regex: re.Pattern[str] | None = PrivateAttr(default=None)

    def model_post_init(self, context: Any, /) -> None:
        unknown = sorted(set(self.presets) - set(topic_data()["presets"]))
        if unknown:
            raise PolicyError(f"unknown policy preset(s) {unknown}; known: {preset_names()}")
        rules: list[Rule] = []
        if self.default_topics:
            rules.extend(default_rules(tuple(topic_data()["ratings"][self.age_rating])))
        for preset in self.presets:
            rules.extend(preset_rules(preset))
        for topic in self.blocked_topics:
            rule = compile_rule(topic.name, topic.words, topic.patterns)
            if rule:
                rules.append(rule)
        self._rules = tuple(rules)
        self._matcher = Matcher(rules)
        names = sorted(
            {normalize(n) for n in self.speaker_names if normalize(n)}, key=len, reverse=True
        )
        if names:
            alternation = "|".join(re.escape(n) for n in names)
            self._speaker_regex = re.compile(
                rf"\n[ \t]*(?:{alternation})[ \t]*[:：]", re.IGNORECASE
            )

    @classmethod
    def from_persona(cls, persona: Persona, world: Policy | None = None) -> Policy:
        """The policy a persona file declares (``policy``, ``boundaries``, ``style.max_reply_chars``),
        combined with the world's policy when given."""
        own = cls(
            age_rating=persona.policy.age_rating,
            blocked_topics=tuple(persona.policy.blocked_topics),
            redact_pii=persona.policy.redact_pii,
            max_reply_chars=persona.style.max_reply_chars,
            refusal_lines=tuple(persona.boundaries.refusal_lines),
            language=persona.languages[0] if persona.languages else None,
            speaker_names=tuple(dict.fromkeys([persona.name, *persona.names.values()])),
        )
        return own.combine(world) if world is not None else own

    def combine(self, other: Policy) -> Policy:
        """A policy at least as strict as both: lower rating, every rule, the shorter length limit.
        Refusal lines, language and names come from ``self`` when it has them."""
        rating = min(self.age_rating, other.age_rating, key=lambda r: _STRICTNESS[r])
        limits = [n for n in (self.max_reply_chars, other.max_reply_chars) if n is not None]
        return Policy(
            age_rating=rating,
            default_topics=self.default_topics or other.default_topics,
            blocked_topics=self.blocked_topics + other.blocked_topics,
            presets=tuple(dict.fromkeys(self.presets + other.presets)),
            redact_pii=self.redact_pii or other.redact_pii,
            guard_injection=self.guard_injection or other.guard_injection,
            max_reply_chars=min(limits) if limits else None,
            refusal_lines=self.refusal_lines or other.refusal_lines,
            language=self.language or other.language,
            speaker_names=tuple(dict.fromkeys(self.speaker_names + other.speaker_names)),
        )

    @property
    def rule_names(self) -> list[str]:
        """Names of the topic rules in force, in matching order."""
        return [r.name for r in self._rules]

    def blocked_topic(self, text: str) -> str | None:
        """The name of the first topic rule ``text`` trips, or None."""
        if self._matcher is None:
            return None
        return self._matcher.first(normalize(text))

    def refusal(self, key: str = "", *, rule: str | None = None) -> str:
        """An in-character refusal line, picked deterministically from ``key`` (the blocked text).

        Lines in the script of ``key`` (mostly Chinese or not) are preferred, so a bilingual
        character refuses in the player's language. For ``rule="self_harm"`` a gentle line that
        points to help is used instead of a refusal."""
        lines = list(self.refusal_lines)
        chinese = mostly_chinese(key) if key.strip() else (self.language or "").startswith("zh")
        language = "zh" if chinese else "en"
        if rule == "self_harm":
            lines = list(topic_data()["support"][language])
        elif not lines:
            lines = list(topic_data()["refusals"][language])
        same_script = [line for line in lines if has_cjk(line) == chinese]
        pool = same_script or lines
        return pool[zlib.crc32(key.encode("utf-8")) % len(pool)]


class Verdict(BaseModel):
    """The outcome of a check. Use ``text`` in place of the checked text."""

    model_config = ConfigDict(frozen=True)

    allowed: bool = Field(
        True, description="False when the text is blocked; ``text`` is then a refusal line."
    )
    text: str = Field(
        ..., description="The text to use: neutralised, redacted, cut, or a refusal when blocked."
    )
    rule: str | None = Field(
        None, description="The rule that fired first: a topic name, 'injection:...', 'pii:...'."
    )
    category: Category | None = Field(
        None, description="What kind of rule fired: topic, injection, pii or length."
    )
    injection: bool = Field(
        False, description="Whether a prompt-injection attempt was found (and neutralised)."
    )
    pii: tuple[str, ...] = Field(
        (), description="Kinds of personal information that were redacted."
    )
