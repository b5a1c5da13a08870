"""The checks a turn runs: :func:`check_input` on a player's line before the model sees it
(a blocked topic stops the turn with an in-character refusal; an injection is neutralised;
personal information is redacted), :func:`check_output` on each sentence of a reply as it
streams (blocked, redacted, cut at the persona's ``max_reply_chars``).
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.safety.injection import detect_injection, neutralise_injection
from engine.safety.pii import redact
from engine.safety.policy import Policy, Verdict

__all__ = ["check_input", "check_output", "check_texts"]


def check_input(text: str, policy: Policy | None = None) -> Verdict:
    """Check a player's line before the model sees it.

    A blocked topic stops the turn: ``allowed=False`` and ``text`` is a refusal line for the
    character to say. An injection attempt passes with ``injection=True`` and its phrases
    neutralised; personal information is redacted when the policy asks for it.
    """
    policy = policy or Policy()
    injections = detect_injection(text, policy) if policy.guard_injection else []
    topic = policy.blocked_topic(text)
    if topic is not None:
        return Verdict(
            allowed=False,
            text=policy.refusal(text, rule=topic),
            rule=topic,
            category="topic",
            injection=bool(injections),
        )
    out = neutralise_injection(text, policy) if injections else text
    kinds: list[str] = []
    if policy.redact_pii:
        out, kinds = redact(out)
    if injections:
        return Verdict(
            text=out, rule=injections[0], category="injection", injection=True, pii=tuple(kinds)
        )
    if kinds:
        return Verdict(text=out, rule=f"pii:{kinds[0]}", category="pii", pii=tuple(kinds))
    return Verdict(text=out)


def check_output(sentence: str, policy: Policy | None = None, *, emitted_chars: int = 0) -> Verdict:
    """Check one sentence of a reply before the player sees it.

    A blocked sentence comes back with ``allowed=False`` and a refusal line in ``text`` to show
    instead. Personal information is redacted. ``emitted_chars`` is how much of the reply has
    already been shown: a sentence that would pass ``max_reply_chars`` is cut (``category``
    ``"length"``; ``text`` may be empty when the limit is already reached).
    """
    policy = policy or Policy()
    topic = policy.blocked_topic(sentence)
    if topic is not None:
        return Verdict(
            allowed=False, text=policy.refusal(sentence, rule=topic), rule=topic, category="topic"
        )
    out, kinds = redact(sentence) if policy.redact_pii else (sentence, [])
    limit = policy.max_reply_chars
    if limit is not None and emitted_chars + len(out) > limit:
        return Verdict(
            text=_cut(out, max(0, limit - emitted_chars)),
            rule="max_reply_chars",
            category="length",
            pii=tuple(kinds),
        )
    if kinds:
        return Verdict(text=out, rule=f"pii:{kinds[0]}", category="pii", pii=tuple(kinds))
    return Verdict(text=out)


def _cut(text: str, room: int) -> str:
    """``text`` cut to ``room`` characters, at a word boundary when one is near, marked with '…'."""
    if room <= 1:
        return ""
    head = text[: room - 1]
    space = head.rfind(" ")
    if space > room // 2:
        head = head[:space]
    return head.rstrip(" ,，、;；") + "…"


def check_texts(texts: Sequence[str], policy: Policy | None = None) -> list[Verdict]:
    """:func:`check_output` over several sentences of one reply, carrying the length budget."""
    verdicts: list[Verdict] = []
    emitted = 0
    for text in texts:
        verdict = check_output(text, policy, emitted_chars=emitted)
        emitted += len(verdict.text)
        verdicts.append(verdict)
    return verdicts
