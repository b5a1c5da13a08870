"""The moderation seam: a :class:`Moderator` (such as an OpenAI-compatible ``/moderations``
endpoint) and :func:`apply_moderation`, which adds its answer to a verdict.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from engine.safety.policy import Policy, Verdict

__all__ = ["Moderation", "Moderator", "apply_moderation"]


class Moderation(BaseModel):
    """What a moderation service said about a text."""

    model_config = ConfigDict(frozen=True)

    flagged: bool = Field(False, description="Whether the service flagged the text.")
    categories: tuple[str, ...] = Field(
        (), description="The categories it flagged, e.g. 'harassment'."
    )


@runtime_checkable
class Moderator(Protocol):
    """A moderation service (an OpenAI-compatible ``/moderations`` endpoint, a vendor API).

    Implementations live with the backends (they do I/O); this module only combines their
    answer with a verdict (:func:`apply_moderation`)."""

    async def moderate(self, text: str) -> Moderation:
        """Classify ``text``."""
        ...


def apply_moderation(
    verdict: Verdict, moderation: Moderation, policy: Policy | None = None
) -> Verdict:
    """``verdict`` made stricter by a moderation result: a flagged text is blocked with rule
    ``moderation:<first category>`` and a refusal line; an unflagged one keeps its verdict.

    >>> v = check_input("hello", Policy())
    >>> apply_moderation(v, Moderation(flagged=True, categories=("harassment",))).rule
    'moderation:harassment'
    """
    if verdict.allowed is False or not moderation.flagged:
        return verdict
    policy = policy or Policy()
    category = moderation.categories[0] if moderation.categories else "flagged"
    rule = "self_harm" if category.startswith("self-harm") else None
    return verdict.model_copy(
        update={
            "allowed": False,
            "text": policy.refusal(verdict.text, rule=rule),
            "rule": f"moderation:{category}",
            "category": "topic",
        }
    )
