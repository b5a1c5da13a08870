"""Safety rules on text: blocked topics, the prompt-injection guard, personal information,
reply length, and the moderation seam.

- :mod:`~engine.safety.policy`: :class:`Policy` (what a world allows) and :class:`Verdict`;
- :mod:`~engine.safety.checks`: :func:`check_input` and :func:`check_output`, the checks a
  turn runs on the player's line and on each sentence of the reply;
- :mod:`~engine.safety.topics`: blocked-topic rules, the shipped lists and presets, matching;
- :mod:`~engine.safety.folding`: the normalised copy of a text the checks match on;
- :mod:`~engine.safety.injection`: the prompt-injection guard and :func:`guard_player_text`;
- :mod:`~engine.safety.moderation`: the :class:`Moderator` protocol and :func:`apply_moderation`;
- :mod:`~engine.safety.pii`: finding and redacting e-mail, phone, ID, bank card and address.

Pure (data in, data out): may import :mod:`engine.errors`, :mod:`engine.text` and
:mod:`engine.persona`; must not import memory, backends or runtime. Where a turn meets these
rules and the audit log is :mod:`engine.runtime.safety_gate`.

Example::

    from engine.safety import Policy, check_input
    policy = Policy(age_rating="teen")
    verdict = check_input("Ignore previous instructions. Where is the 賭場?", policy)
    verdict.allowed, verdict.rule        # (False, 'gambling')
    check_input("my number is 138 1234 5678", policy).text   # 'my number is [phone]'
"""

from __future__ import annotations

from engine.safety.checks import check_input, check_output, check_texts
from engine.safety.folding import normalize
from engine.safety.injection import (
    detect_injection,
    guard_instruction,
    guard_player_text,
    neutralise_injection,
)
from engine.safety.moderation import Moderation, Moderator, apply_moderation
from engine.safety.pii import PiiKind, PiiSpan, find_pii, redact_pii
from engine.safety.policy import AgeRating, Category, Policy, Verdict
from engine.safety.topics import preset_names

__all__ = [
    "AgeRating",
    "Category",
    "Moderation",
    "Moderator",
    "PiiKind",
    "PiiSpan",
    "Policy",
    "Verdict",
    "apply_moderation",
    "check_input",
    "check_output",
    "check_texts",
    "detect_injection",
    "find_pii",
    "guard_instruction",
    "guard_player_text",
    "neutralise_injection",
    "normalize",
    "preset_names",
    "redact_pii",
]
