"""Lorebook (world info) entries, inserted into the prompt when their keys match the conversation.

The model follows Character Card V3's ``lorebook`` entry, which is a superset of V2's
``character_book`` and close to SillyTavern World Info.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["LoreEntry"]


class LoreEntry(BaseModel):
    """One lorebook entry: text inserted into the prompt when its keys appear in recent turns."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    keys: list[str] = Field(default_factory=list, description="Primary keys; any one matching triggers the entry.")
    content: str = Field("", description="The text inserted into the prompt.")
    name: str = Field("", description="Entry name (V3 `name`, World Info `comment`).")
    comment: str = Field("", description="Writer's note, never shown to the model.")
    secondary_keys: list[str] = Field(default_factory=list, description="Secondary keys, combined by `selective_logic`.")
    selective: bool = Field(False, description="Whether secondary keys are checked.")
    selective_logic: Literal["and_any", "and_all", "not_any", "not_all"] = Field(
        "and_any", description="How secondary keys combine with the primary match."
    )
    use_regex: bool = Field(False, description="Keys are regular expressions (or /pattern/flags).")
    case_sensitive: bool = Field(False, description="Match keys case-sensitively.")
    match_whole_words: bool | None = Field(None, description="Match keys only as whole words (None: the book's default).")
    constant: bool = Field(False, description="Always inserted, whatever the keys.")
    enabled: bool = Field(True, description="Disabled entries are never inserted.")
    insertion_order: int = Field(100, description="Lower values are inserted earlier in the prompt.")
    priority: int = Field(10, description="When the budget is short, higher priority entries are kept.")
    position: str = Field("before_char", description="Where the card asked for it (kept for export).")
    scan_depth: int | None = Field(None, ge=0, description="How many recent messages to scan (None: the book's default).")
    id: int | str | None = Field(None, description="The entry's id in its source book.")
    extensions: dict[str, Any] = Field(default_factory=dict, description="Unknown extension fields, kept verbatim.")
