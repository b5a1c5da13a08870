"""Safety rules on text: blocked topics, the prompt-injection guard, personal information,
reply length, and the moderation seam.

- :mod:`~engine.safety.policy`: :class:`Policy`, :class:`Verdict`, :func:`check_input`,
  :func:`check_output`, :func:`guard_player_text`, the :class:`Moderator` protocol;
- :mod:`~engine.safety.pii`: finding and redacting e-mail, phone, ID, bank card and address.

Pure (data in, data out): may import :mod:`engine.errors`, :mod:`engine.text` and
:mod:`engine.persona`; must not import memory, backends or runtime. Where a turn meets these
rules and the audit log is :mod:`engine.runtime.safety_gate`.
"""

from __future__ import annotations

from engine.safety.pii import PiiKind, PiiSpan, find_pii, redact_pii
from engine.safety.policy import (
    AgeRating,
    Category,
    Moderation,
    Moderator,
    Policy,
    Verdict,
    apply_moderation,
    check_input,
    check_output,
    check_texts,
    detect_injection,
    guard_instruction,
    guard_player_text,
    neutralise_injection,
    normalize,
    preset_names,
)

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
