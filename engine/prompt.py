"""Prompts as data: named sections of messages, each with its token count.

A :class:`Prompt` is what the turn pipeline hands a backend. It is pure data; each backend
renders it (chat messages for chat models, a transcript for base models). ``assemble()``
builds one from a persona and what memory recalled, under a token budget.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.persona import Persona
from engine.tokens import estimate_tokens

__all__ = ["Message", "Prompt", "Section"]

Role = Literal["system", "user", "assistant"]


class Message(BaseModel):
    """One chat message. ``name`` is the speaker's display name (players and characters)."""

    model_config = ConfigDict(frozen=True)

    role: Role
    content: str
    name: str | None = None


class Section(BaseModel):
    """A named part of a prompt ("persona", "lore", "memories", "history", "input", ...)."""

    model_config = ConfigDict(frozen=True)

    name: str
    messages: tuple[Message, ...]
    tokens: int = 0

    @classmethod
    def system(cls, name: str, text: str) -> Section:
        """A section holding one system message."""
        return cls(name=name, messages=(Message(role="system", content=text),), tokens=estimate_tokens(text))

    @classmethod
    def of(cls, name: str, messages: list[Message] | tuple[Message, ...]) -> Section:
        """A section of messages, its token count estimated (4 tokens of overhead a message)."""
        tokens = sum(estimate_tokens(m.content) + 4 for m in messages)
        return cls(name=name, messages=tuple(messages), tokens=tokens)


class Prompt(BaseModel):
    """An assembled prompt: ordered sections plus who is speaking to whom."""

    model_config = ConfigDict(frozen=True)

    sections: tuple[Section, ...]
    character: str = Field(description="The character's display name (the speaker to generate).")
    player: str = Field("Player", description="The player's display name.")
    language: str | None = Field(None, description="The language the reply should be in, if known.")
    stop: tuple[str, ...] = Field((), description="Extra stop sequences for completion models.")
    persona: Persona | None = Field(
        None,
        exclude=True,
        description="The persona being voiced (for scripted backends); not part of the rendered prompt.",
    )

    @property
    def tokens(self) -> int:
        """Estimated total tokens."""
        return sum(s.tokens for s in self.sections)

    def section(self, name: str) -> Section | None:
        """The section called ``name``, or None."""
        return next((s for s in self.sections if s.name == name), None)

    def messages(self) -> list[Message]:
        """All messages in order, adjacent system messages merged into one."""
        out: list[Message] = []
        for section in self.sections:
            for message in section.messages:
                if out and message.role == "system" and out[-1].role == "system":
                    out[-1] = Message(role="system", content=out[-1].content + "\n\n" + message.content)
                else:
                    out.append(message)
        return out

    @property
    def user_text(self) -> str:
        """The text of the last user message (the line being answered), or ''."""
        for message in reversed(self.messages()):
            if message.role == "user":
                return message.content
        return ""
