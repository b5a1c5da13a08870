"""The public methods every memory store has, each one a function of a concept's module.

The work lives in modules of plain functions that take the store as their first argument:
:mod:`.turns` (dialogue lines and the memories they become), :mod:`.recall`,
:mod:`.knowledge` (facts, relationships, summaries, names) and :mod:`.rights` (export,
forget). A store class gets them here as methods: the same functions, so the same signatures
and docstrings, and ``store.forget(player)`` is ``rights.forget(store, player)``. What the
backends do differently stays in :class:`~engine.memory.base.StoreBase`'s methods, which the
PostgreSQL store overrides.
"""

from __future__ import annotations

from engine.memory import knowledge, rights, turns
from engine.memory import recall as recalling
from engine.memory.base import StoreBase

__all__ = ["StoreMethods"]


class StoreMethods(StoreBase):
    """:class:`~engine.memory.base.StoreBase` with the public methods of a memory store: the
    base of :class:`~engine.memory.MemoryStore` (SQLite) and of
    :class:`~engine.memory.postgres.PostgresMemoryStore`. Not used on its own."""

    # Dialogue lines and the memories they become
    add_turn = turns.add_turn
    add_turns = turns.add_turns
    recent_turns = turns.recent_turns
    recent_lines = turns.recent_lines
    add_memory = turns.add_memory
    get_memory = turns.get_memory
    memories = turns.memories
    set_importance = turns.set_importance
    share_memory = turns.share_memory
    forget_memory = turns.forget_memory

    # Recall (the module is imported as ``recalling``: ``recall`` is the method's name here)
    recall = recalling.recall
    embed_pending = recalling.embed_pending

    # What characters know of players
    add_fact = knowledge.add_fact
    facts = knowledge.facts
    relationship = knowledge.relationship
    adjust_relationship = knowledge.adjust_relationship
    summary = knowledge.summary
    summary_text = knowledge.summary_text
    set_summary = knowledge.set_summary
    unsummarised_turns = knowledge.unsummarised_turns
    turns_over_budget = knowledge.turns_over_budget
    set_player_name = knowledge.set_player_name
    player_name = knowledge.player_name
    has_met = knowledge.has_met
    pairs = knowledge.pairs

    # Player rights
    export = rights.export
    forget = rights.forget
