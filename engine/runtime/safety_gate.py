"""Where the turn pipeline meets :mod:`engine.safety` and the audit log.

Every call into engine.safety, and every audit record a turn makes, goes through
:class:`SafetyGate`.
"""

from __future__ import annotations

import logging

from engine.errors import BackendError
from engine.memory.ledger import Direction, Ledger
from engine.memory.store import MemoryStore
from engine.persona.model import Persona
from engine.safety import (
    Moderation,
    Moderator,
    Policy,
    Verdict,
    apply_moderation,
    check_input,
    check_output,
    guard_instruction,
    guard_player_text,
)
from engine.safety.pii import redact_pii

__all__ = ["SafetyGate"]

log = logging.getLogger(__name__)


class SafetyGate:
    """Where the turn pipeline meets :mod:`engine.safety` and the audit log.

    - :meth:`check_input` before the model (a blocked line never reaches it);
    - :meth:`guard` wraps the player's text as data for the prompt, :meth:`rules` adds the
      matching out-of-character instruction;
    - :meth:`check_output` on every sentence before any event carries it;
    - :meth:`redact` before anything is stored;
    - :meth:`audit` records what was blocked, and injection attempts that were only
      neutralised, in the ledger's audit table (the excerpt redacted).

    ``enabled=False`` turns all of it off (then text streams a token at a time).

    ``moderator`` (an :class:`engine.safety.Moderator`, e.g.
    :class:`engine.backends.openai.chat.OpenAIModerator`) is asked about the player's line and each
    sentence of the reply that the local checks allowed (:meth:`moderate`); a flagged text is
    blocked as a local rule would block it. When the service fails, the local verdict stands
    (fail-open, with a warning in the log) unless ``moderation_fail_closed`` is set, in which
    case the text is blocked (rule ``moderation:unavailable``).
    """

    def __init__(
        self,
        world: Policy | None = None,
        *,
        enabled: bool = True,
        moderator: Moderator | None = None,
        moderation_fail_closed: bool = False,
    ) -> None:
        self.enabled = enabled
        self.world = world
        self.moderator = moderator if enabled else None
        self.moderation_fail_closed = moderation_fail_closed
        self._policies: dict[str, Policy] = {}
        self._ledger: Ledger | None = (
            None  # made on the store thread, sharing the world file's connection
        )

    def policy(self, persona: Persona) -> Policy | None:
        """The persona's policy combined with the world's (cached per character)."""
        if not self.enabled:
            return None
        key = persona.id or persona.name
        if key not in self._policies:
            self._policies[key] = Policy.from_persona(persona, self.world)
        return self._policies[key]

    def check_input(self, text: str, persona: Persona) -> Verdict | None:
        """A :class:`engine.safety.policy.Verdict` for the player's line, or None when disabled."""
        if not self.enabled:
            return None
        return check_input(text, self.policy(persona))

    def check_output(
        self, sentence: str, policy: Policy | None, emitted_chars: int
    ) -> Verdict | None:
        """A Verdict for one sentence of the reply, or None when disabled."""
        if not self.enabled:
            return None
        return check_output(sentence, policy, emitted_chars=emitted_chars)

    async def moderate(
        self, verdict: Verdict | None, policy: Policy | None, direction: Direction
    ) -> Verdict | None:
        """``verdict`` made stricter by the moderation service (when there is one and the
        local check allowed the text); see the class docs for what happens when it fails."""
        if self.moderator is None or verdict is None or not verdict.allowed:
            return verdict
        if not verdict.text.strip():
            return verdict
        try:
            moderation = await self.moderator.moderate(verdict.text)
        except BackendError as exc:
            if not self.moderation_fail_closed:
                log.warning(
                    "moderation of the %s failed, the local check stands: %s", direction, exc
                )
                return verdict
            log.warning(
                "moderation of the %s failed, blocking it (fail closed): %s", direction, exc
            )
            moderation = Moderation(flagged=True, categories=("unavailable",))
        return apply_moderation(verdict, moderation, policy)

    def guard(self, text: str) -> str:
        """The player's text delimited as data for the prompt."""
        if not self.enabled:
            return text
        return guard_player_text(text)

    def rules(self, language: str | None) -> list[str]:
        """Out-of-character rules that go with :meth:`guard`."""
        if not self.enabled:
            return []
        return [guard_instruction(language)]

    def redact(self, text: str, persona: Persona) -> str:
        """``text`` with personal information replaced by placeholders, as stored.

        Follows the combined policy (:meth:`policy`): a world that redacts redacts for every
        character, whatever the character's own file says."""
        policy = self.policy(persona)
        if policy is None or not policy.redact_pii:
            return text
        return redact_pii(text)

    def audit(
        self,
        store: MemoryStore,
        character: str,
        player: str,
        direction: Direction,
        verdict: Verdict,
        excerpt: str,
    ) -> None:
        """Record a blocked input or output (on the store thread; the excerpt is redacted)."""
        if self._ledger is None or self._ledger.db is not store.db:
            self._ledger = Ledger(store.db, clock=store.clock)
        ledger = self._ledger
        ledger.audit(character, player, direction, verdict.rule or "", verdict.category, excerpt)
