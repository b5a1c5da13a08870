"""What characters know of players: facts, relationship numbers, rolling summaries, names.

Functions of a store (:class:`~engine.memory.MemoryStore` has them as methods: ``add_fact``,
``facts``, ``relationship``, ``adjust_relationship``, ``summary``, ``set_summary``...).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter

from engine.errors import StoreError
from engine.memory.base import (
    StoreBase,
    chunks,
    json_ids,
)
from engine.memory.scoring import (
    clamp,
    derive_stage,
)
from engine.persona.model import RelationshipDefaults
from engine.text.tokens import estimate_tokens
from engine.types import (
    Fact,
    Relationship,
    Summary,
    TurnRecord,
)

# Decodes a stored JSON list of turn ids in one pass (a long-lived summary covers thousands).
_TURN_IDS: TypeAdapter[list[int]] = TypeAdapter(list[int])

__all__ = [
    "add_fact",
    "adjust_relationship",
    "facts",
    "has_met",
    "pairs",
    "player_name",
    "player_names",
    "relationship",
    "set_player_name",
    "set_summary",
    "summary",
    "summary_text",
    "turns_over_budget",
    "unsummarised_turns",
]


def add_fact(
    store: StoreBase,
    character: str,
    player: str,
    subject: str,
    predicate: str,
    obj: str,
    *,
    confidence: float = 0.8,
    source_turns: Sequence[int] = (),
    reason: str = "",
) -> Fact:
    """Record a fact about the player. A different object for the same (subject, predicate)
    supersedes the current fact (kept, marked ``superseded_by``); the same object raises
    the stored confidence and adds the source turns."""
    conf = clamp(float(confidence), 0.0, 1.0)
    subject, predicate, obj = subject.strip(), predicate.strip(), obj.strip()
    if not (subject and predicate and obj):
        raise StoreError("a fact needs a subject, a predicate and an object")
    now = store.clock()

    def write(conn: Any) -> int:
        store._lock_players(conn, [player])
        current = conn.execute(
            "SELECT id, object, confidence, source_turns FROM facts WHERE character = ?"
            " AND player = ? AND lower(subject) = lower(?) AND lower(predicate) = lower(?)"
            " AND superseded_by IS NULL ORDER BY id DESC",
            (character, player, subject, predicate),
        ).fetchall()
        for row in current:
            if row[1].casefold() == obj.casefold():
                turns = sorted(set(json_ids(row[3])) | {int(t) for t in source_turns})
                new_conf = max(float(row[2]), conf)
                conn.execute(
                    "UPDATE facts SET confidence = ?, source_turns = ? WHERE id = ?",
                    (new_conf, json.dumps(turns), row[0]),
                )
                store._log(
                    conn,
                    "update",
                    "fact",
                    row[0],
                    character,
                    player,
                    reason or "fact confirmed",
                    {"confidence": [row[2], new_conf]},
                )
                return int(row[0])
        cur = conn.execute(
            "INSERT INTO facts (character, player, subject, predicate, object, confidence,"
            " source_turns, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                character,
                player,
                subject,
                predicate,
                obj,
                conf,
                json.dumps([int(t) for t in source_turns]),
                now,
            ),
        )
        fact_id = int(cur.fetchone()[0])
        store._log(conn, "insert", "fact", fact_id, character, player, reason or "fact learned")
        for row in current:
            conn.execute("UPDATE facts SET superseded_by = ? WHERE id = ?", (fact_id, row[0]))
            store._log(
                conn,
                "update",
                "fact",
                row[0],
                character,
                player,
                "superseded by a contradicting fact",
                {"superseded_by": fact_id},
            )
        return fact_id

    fact_id = store._write(write)
    rows = store._read(
        "SELECT id, character, player, subject, predicate, object, confidence, source_turns,"
        " created, superseded_by FROM facts WHERE id = ?",
        (fact_id,),
    )
    return _fact(rows[0])


def _fact(r: Any) -> Fact:
    return Fact(
        id=r[0],
        character=r[1],
        player=r[2],
        subject=r[3],
        predicate=r[4],
        object=r[5],
        confidence=r[6],
        source_turns=json_ids(r[7]),
        created=r[8],
        superseded_by=r[9],
    )


def facts(
    store: StoreBase, character: str, player: str, *, include_superseded: bool = False
) -> list[Fact]:
    """Facts ``character`` holds about ``player``, oldest first."""
    extra = "" if include_superseded else " AND superseded_by IS NULL"
    rows = store._read(
        "SELECT id, character, player, subject, predicate, object, confidence, source_turns,"
        f" created, superseded_by FROM facts WHERE character = ? AND player = ?{extra}"
        " ORDER BY id",
        (character, player),
    )
    return [_fact(r) for r in rows]


def relationship(
    store: StoreBase, character: str, player: str, *, defaults: RelationshipDefaults | None = None
) -> Relationship:
    """The relationship numbers (starting from ``defaults`` when nothing is stored yet)."""
    rows = store._read(
        "SELECT affinity, trust, familiarity, updated FROM relationships"
        " WHERE character = ? AND player = ?",
        (character, player),
    )
    turns = _turn_count(store, character, player)
    if rows:
        affinity, trust, familiarity, updated = rows[0]
    else:
        d = defaults or RelationshipDefaults()
        affinity, trust, familiarity, updated = d.affinity, d.trust, d.familiarity, 0.0
    return Relationship(
        character=character,
        player=player,
        affinity=affinity,
        trust=trust,
        familiarity=familiarity,
        stage=derive_stage(affinity, trust, familiarity),
        turns=int(turns),
        updated=updated,
    )


def _turn_count(store: StoreBase, character: str, player: str) -> int:
    """Lines between the two, counted once and then only the new ones (turn ids only grow;
    a deletion bumps the store's generation and the count starts afresh)."""
    current = store._stored_generation()
    counts = store._turn_counts
    count, last, seen = counts.get((character, player), (0, 0, current))
    if seen != current:
        count, last = 0, 0
    more, newest = store._read(
        "SELECT count(*), max(id) FROM turns WHERE character = ? AND player = ? AND id > ?",
        (character, player, last),
    )[0]
    if more:
        count, last = count + int(more), int(newest)
        if len(counts) > 4096:
            counts.clear()
        counts[(character, player)] = (count, last, current)
    return count


def adjust_relationship(
    store: StoreBase,
    character: str,
    player: str,
    *,
    affinity: float = 0.0,
    trust: float = 0.0,
    familiarity: float = 0.0,
    reason: str = "",
    defaults: RelationshipDefaults | None = None,
) -> Relationship:
    """Add the deltas (each capped at ``defaults.max_change_per_turn``) and store the result.

    Affinity and trust stay in -100..100, familiarity in 0..100.
    """
    d = defaults or RelationshipDefaults()
    cap = d.max_change_per_turn
    deltas = {
        "affinity": clamp(affinity, -cap, cap),
        "trust": clamp(trust, -cap, cap),
        "familiarity": clamp(familiarity, -cap, cap),
    }
    now = store.clock()

    def write(conn: Any) -> None:
        store._lock_players(conn, [player])
        row = conn.execute(
            "SELECT affinity, trust, familiarity FROM relationships WHERE character = ? AND player = ?",
            (character, player),
        ).fetchone()
        before = row if row else (d.affinity, d.trust, d.familiarity)
        after = (
            clamp(before[0] + deltas["affinity"], -100, 100),
            clamp(before[1] + deltas["trust"], -100, 100),
            clamp(before[2] + deltas["familiarity"], 0, 100),
        )
        conn.execute(
            "INSERT INTO relationships (character, player, affinity, trust, familiarity, stage, updated)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (character, player) DO UPDATE SET"
            " affinity = excluded.affinity, trust = excluded.trust,"
            " familiarity = excluded.familiarity, stage = excluded.stage, updated = excluded.updated",
            (character, player, *after, derive_stage(*after), now),
        )
        store._log(
            conn,
            "update" if row else "insert",
            "relationship",
            None,
            character,
            player,
            reason or "relationship change",
            {"before": list(before), "after": list(after)},
        )

    store._write(write)
    return relationship(store, character, player, defaults=d)


def summary(store: StoreBase, character: str, player: str) -> Summary | None:
    """The rolling summary of older turns, if one was written."""
    rows = store._read(
        "SELECT text, turn_ids, updated FROM summaries WHERE character = ? AND player = ?",
        (character, player),
    )
    if not rows:
        return None
    return Summary(
        character=character,
        player=player,
        text=rows[0][0],
        turn_ids=_TURN_IDS.validate_json(rows[0][1] or "[]"),
        updated=rows[0][2],
    )


def summary_text(store: StoreBase, character: str, player: str) -> str | None:
    """Only the text of the rolling summary (no decoding of the turn ids it covers)."""
    rows = store._read(
        "SELECT text FROM summaries WHERE character = ? AND player = ?", (character, player)
    )
    return str(rows[0][0]) if rows else None


#: Above every turn id (ids are SQLite integers).
_NO_ID = 2**63 - 1


def _covered_turns(store: StoreBase, character: str, player: str) -> set[int]:
    """The turn ids the current summary covers (empty without a summary)."""
    rows = store._read(
        "SELECT turn_ids FROM summaries WHERE character = ? AND player = ?",
        (character, player),
    )
    return set(_TURN_IDS.validate_json(rows[0][0] or "[]")) if rows else set()


def set_summary(
    store: StoreBase, character: str, player: str, text: str, turn_ids: Sequence[int]
) -> Summary:
    """Store the rolling summary; ``turn_ids`` are every turn it covers (old and new).

    If one of those turns is forgotten later, the summary is dropped so it can be rebuilt.
    """
    ids = sorted({int(t) for t in turn_ids})
    now = store.clock()

    def write(conn: Any) -> None:
        store._lock_players(conn, [player])
        existing = conn.execute(
            "SELECT 1 FROM summaries WHERE character = ? AND player = ?", (character, player)
        ).fetchone()
        stored = 0
        for chunk in chunks(ids, 500):
            stored += int(
                conn.execute(
                    "SELECT count(*) FROM turns WHERE character = ? AND player = ? AND id IN"
                    f" ({','.join('?' * len(chunk))})",
                    (character, player, *chunk),
                ).fetchone()[0]
            )
        if stored != len(ids):
            raise StoreError("a summary may only cover stored turns of its own conversation")
        conn.execute(
            "INSERT INTO summaries (character, player, text, turn_ids, updated) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (character, player) DO UPDATE SET text = excluded.text,"
            " turn_ids = excluded.turn_ids, updated = excluded.updated",
            (character, player, text, json.dumps(ids), now),
        )
        store._log(
            conn,
            "update" if existing else "insert",
            "summary",
            None,
            character,
            player,
            "rolling summary",
            {"turns": len(ids)},
        )

    store._write(write)
    return Summary(character=character, player=player, text=text, turn_ids=ids, updated=now)


def unsummarised_turns(
    store: StoreBase, character: str, player: str, *, keep_recent: int, limit: int | None = None
) -> list[TurnRecord]:
    """Turns older than the last ``keep_recent`` that the summary does not cover, oldest first
    (the oldest ``limit`` of them, if given).

    Reads only the turns after the summary's newest one, unless the summary leaves older
    turns out: a long conversation is not read whole after every reply."""
    keep = max(0, int(keep_recent))
    before = _NO_ID
    if keep:
        newest = store._read(
            "SELECT id FROM turns WHERE character = ? AND player = ? ORDER BY id DESC LIMIT ?",
            (character, player, keep),
        )
        if len(newest) < keep:
            return []
        before = int(newest[-1][0])
    covered = _covered_turns(store, character, player)
    after = max(covered, default=0)
    if covered:
        # A summary covers only stored turns of its conversation: as many turns up to its
        # newest as it covers means it leaves none of them out.
        held = store._read(
            "SELECT count(*) FROM turns WHERE character = ? AND player = ? AND id <= ?",
            (character, player, after),
        )[0][0]
        if int(held) != len(covered):
            after = 0
    bound = max(0, int(limit)) if limit is not None else None
    sql = (
        "SELECT id, character, player, speaker, text, time, session FROM turns"
        " WHERE character = ? AND player = ? AND id > ? AND id < ? ORDER BY id"
    )
    params: tuple[object, ...] = (character, player, after, before)
    if bound is not None and (after or not covered):  # no covered turn in the range
        sql += " LIMIT ?"
        params += (bound,)
    turns = [store._turn(r) for r in store._read(sql, params) if r[0] not in covered]
    return turns if bound is None else turns[:bound]


def turns_over_budget(
    store: StoreBase, character: str, player: str, *, budget_tokens: int, keep_recent: int = 4
) -> list[TurnRecord]:
    """Unsummarised turns that no longer fit the recent-turns budget, oldest first.

    Walking back from the newest turn, turns are kept while their estimated tokens fit in
    ``budget_tokens`` (the last ``keep_recent`` always stay); the older unsummarised ones
    are returned, ready to be folded into the rolling summary. Empty when all fit.
    """
    covered = _covered_turns(store, character, player)
    rows = store._read(
        "SELECT id, character, player, speaker, text, time, session FROM turns"
        " WHERE character = ? AND player = ? ORDER BY id",
        (character, player),
    )
    pending = [r for r in rows if r[0] not in covered]
    used = 0
    cut = len(pending)
    for i in range(len(pending) - 1, -1, -1):
        used += estimate_tokens(f"{pending[i][3]}: {pending[i][4]}")
        if len(pending) - i > keep_recent and used > budget_tokens:
            break
        cut = i
    return [store._turn(r) for r in pending[:cut]]


def set_player_name(store: StoreBase, player: str, name: str) -> None:
    """Remember the name a player goes by."""
    now = store.clock()

    def write(conn: Any) -> None:
        store._lock_players(conn, [player])
        row = conn.execute("SELECT name FROM players WHERE player = ?", (player,)).fetchone()
        if row and row[0] == name:
            return
        conn.execute(
            "INSERT INTO players (player, name, updated) VALUES (?, ?, ?) ON CONFLICT (player)"
            " DO UPDATE SET name = excluded.name, updated = excluded.updated",
            (player, name, now),
        )
        store._log(
            conn,
            "update" if row else "insert",
            "player",
            player,
            None,
            player,
            "player name",
            None,
        )

    store._write(write)


def player_name(store: StoreBase, player: str) -> str | None:
    """The name the player goes by, if known."""
    rows = store._read("SELECT name FROM players WHERE player = ?", (player,))
    return rows[0][0] if rows else None


def player_names(store: StoreBase, players: Sequence[str]) -> dict[str, str]:
    """The names these players go by (those that have one), in one read."""
    out: dict[str, str] = {}
    for start in range(0, len(players), 500):
        chunk = list(players[start : start + 500])
        among = store._among_text(chunk)
        for player, name in store._read(
            f"SELECT player, name FROM players WHERE player {among[0]}", among[1]
        ):
            if name:
                out[str(player)] = str(name)
    return out


def has_met(store: StoreBase, character: str, player: str) -> bool:
    """Whether ``character`` has talked with ``player`` (or holds a relationship with them)."""
    rows = store._read(
        "SELECT EXISTS (SELECT 1 FROM turns WHERE character = ? AND player = ?)"
        " OR EXISTS (SELECT 1 FROM relationships WHERE character = ? AND player = ?)",
        (character, player, character, player),
    )
    return bool(rows[0][0])


def pairs(store: StoreBase) -> list[tuple[str, str, int, int]]:
    """Every (character, player, turns, memories) conversation in the file."""
    rows = store._read(
        "SELECT character, player, sum(t), sum(m) FROM ("
        " SELECT character, player, count(*) AS t, 0 AS m FROM turns GROUP BY character, player"
        " UNION ALL SELECT character, player, 0, count(*) FROM memories GROUP BY character, player"
        ") AS pair_counts GROUP BY character, player ORDER BY character, player"
    )
    return [(r[0], r[1], int(r[2]), int(r[3])) for r in rows]
