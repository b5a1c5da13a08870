"""The ledger: usage, quota and audit tables in the world's SQLite file.

The ledger sits beside the memory store in the same file but keeps its own migration set
(``engine.ledger``), so the two evolve independently. It accepts the store's
``sqlite_utils.Database`` (same connection, same thread as the store) or a path (its own
connection; one :class:`Ledger` per thread).

Tables:

* ``usage``: one row per model call: player, character, model, tokens in and out, latency,
  cost (what the provider charges) and charge (what the player is billed), currency.
* ``quota_usage``: per player and day, questions asked and tokens and charge used so far.
* ``quota_reservations``: one row per reserved question: open, committed or released.
* ``audit``: every blocked input or output with the rule that fired; the excerpt is redacted
  (:func:`engine.safety.pii.redact_pii`) and cut short, so raw personal information never lands here.

Quota checks are atomic across threads and processes: the check and the increment are one
conditional ``UPDATE`` inside a ``BEGIN IMMEDIATE`` transaction.

>>> ledger = Ledger(":memory:")
>>> rid = ledger.reserve("p1", day="2026-01-01", now=0.0, max_questions=1)
>>> ledger.quota_state("p1", "2026-01-01").questions
1
"""

from __future__ import annotations

import logging
import sqlite3
import time as _time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from engine.errors import QuotaExceededError, StoreError
from engine.memory._sqlite import in_transaction, retry
from engine.safety.pii import redact_pii

__all__ = ["AuditRecord", "Ledger", "QuotaState", "UsageRow", "LEDGER_TABLES", "MIGRATIONS"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

MIGRATIONS = Migrations("engine.ledger")

#: Every table the ledger writes (all keyed by player, for export and forget).
LEDGER_TABLES = ("usage", "quota_usage", "quota_reservations", "audit")

#: ``column - ?`` floored at zero, written so SQLite and PostgreSQL both take it (two parameters).
_AT_LEAST_ZERO = "CASE WHEN {0} > ? THEN {0} - ? ELSE 0 END"

#: Longest audit excerpt kept, in characters.
EXCERPT_CHARS = 160

Direction = Literal["input", "output"]
GroupBy = Literal["player", "character", "model", "day"]


@MIGRATIONS()
def m001_ledger(db: Database) -> None:
    """Usage, per-day quota counters, reservations and the audit log."""
    db["usage"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "time": float,
            "day": str,
            "player": str,
            "character": str,
            "model": str,
            "prompt_tokens": int,
            "completion_tokens": int,
            "latency_ms": float,
            "ttft_ms": float,
            "estimated": int,
            "cost": float,
            "charge": float,
            "currency": str,
            "reservation_id": int,
        },
        pk="id",
        not_null={"time", "day", "player", "prompt_tokens", "completion_tokens", "cost", "charge"},
    )
    db.execute("CREATE INDEX idx_usage_player_day ON usage (player, day)")
    db["quota_usage"].create(  # type: ignore[union-attr]
        {"player": str, "day": str, "questions": int, "tokens": int, "spend": float},
        pk=("player", "day"),
        not_null={"questions", "tokens", "spend"},
        defaults={"questions": 0, "tokens": 0, "spend": 0.0},
    )
    db["quota_reservations"].create(  # type: ignore[union-attr]
        {"id": int, "player": str, "day": str, "time": float, "status": str},
        pk="id",
        not_null={"player", "day", "time", "status"},
    )
    db["audit"].create(  # type: ignore[union-attr]
        {
            "id": int,
            "time": float,
            "character": str,
            "player": str,
            "direction": str,
            "rule": str,
            "category": str,
            "excerpt": str,
        },
        pk="id",
        not_null={"time", "direction", "rule"},
    )
    db.execute("CREATE INDEX idx_audit_player ON audit (player, id)")


@MIGRATIONS()
def m002_reservations_hold_tokens_and_spend(db: Database) -> None:
    """Reservations hold the tokens and charge their call may use until it is committed, so
    concurrent turns cannot all pass a token or spend quota on the same committed total."""
    for table in ("quota_usage", "quota_reservations"):
        db.execute(f"ALTER TABLE {table} ADD COLUMN tokens_held INTEGER NOT NULL DEFAULT 0")
        db.execute(f"ALTER TABLE {table} ADD COLUMN spend_held REAL NOT NULL DEFAULT 0")


class AuditRecord(BaseModel):
    """One blocked (or neutralised) input or output."""

    model_config = ConfigDict(frozen=True)

    id: int
    time: float
    character: str | None
    player: str | None
    direction: str = Field(description="'input' (player line) or 'output' (reply sentence).")
    rule: str = Field(description="The rule that fired: a topic name, 'injection:...', 'pii:...'.")
    category: str | None = Field(None, description="topic, injection, pii or length.")
    excerpt: str = Field(
        "", description="The start of the text, with personal information redacted."
    )


class QuotaState(BaseModel):
    """What a player has used on one day."""

    model_config = ConfigDict(frozen=True)

    player: str
    day: str
    questions: int = 0
    tokens: int = 0
    spend: float = 0.0


class UsageRow(BaseModel):
    """A usage total for one group (player, character, model or day) and currency."""

    model_config = ConfigDict(frozen=True)

    key: str
    currency: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost: float
    charge: float
    mean_latency_ms: float


class Ledger:
    """Usage, quota and audit tables in a world file.

    ``db`` is the memory store's ``store.db`` (share its connection and thread) or a path to
    the world file (the ledger opens its own connection, WAL mode).
    """

    def __init__(
        self,
        db: Database | str | Path | Any,
        *,
        clock: Callable[[], float] = _time.time,
        busy_timeout: float = 30.0,
    ) -> None:
        self.clock = clock
        self.busy_timeout = busy_timeout
        # A PostgreSQL world: the store's database handle, or a URL (engine.memory.postgres).
        self._pg: Any = None
        self.db: Any
        if getattr(db, "is_postgres", False):
            self._pg, self.db, self.path = db, db, "<shared>"
            self._owns_connection = False
            return
        if isinstance(db, str) and db.startswith(("postgresql://", "postgres://")):
            from engine.memory.postgres.connection import PgDatabase

            self._pg = self.db = PgDatabase(db, busy_timeout=busy_timeout)
            self.path = self._pg.label
            self._owns_connection = True
            return
        self._owns_connection = not isinstance(db, Database)
        if isinstance(db, Database):
            self.db = db
            self.path = "<shared>"
        else:
            self.path = str(db)
            try:
                conn = sqlite3.connect(
                    self.path, timeout=min(busy_timeout, 5.0), check_same_thread=False
                )
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open world file {self.path}: {exc}") from exc
            self.db = Database(conn)
        try:
            self._retry(self._setup)
        except StoreError:
            if self._owns_connection:
                self.db.conn.close()
            raise

    # ------------------------------------------------------------------ plumbing

    def _setup(self) -> None:
        conn = self.db.conn
        if self._owns_connection and self.path != ":memory:":
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        if MIGRATIONS.pending(self.db):
            # Under the write lock, so two processes opening a new file do not both migrate.
            self._write(
                lambda _conn: MIGRATIONS.apply(self.db) if MIGRATIONS.pending(self.db) else None
            )

    def _retry(self, fn: Callable[[], T]) -> T:
        """Run ``fn``, retrying while the file is busy; other SQLite errors become StoreError."""
        return retry(
            self.db.conn,
            fn,
            label=str(self.path),
            busy_timeout=self.busy_timeout,
            first_delay=0.002,
            max_delay=0.1,
        )

    def _write(self, fn: Callable[[Any], T], *, player: str | None = None) -> T:
        """Run ``fn`` in one transaction (``BEGIN IMMEDIATE`` on SQLite), retried while busy.

        On PostgreSQL the writes about ``player`` are serialised across processes by a lock
        held to the end of the transaction, as SQLite's single writer serialises them all."""
        if self._pg is not None:

            def locked(conn: Any) -> T:
                if player is not None:
                    # The store's own per-player lock: one lock per player, whichever of the
                    # two writes first, so a turn's store and ledger writes never cross.
                    self._pg.lock_keys(conn, "player", [player])
                return fn(conn)

            return cast(T, self._pg.write(locked))
        return self._retry(lambda: in_transaction(self.db.conn, fn))

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self._pg is not None:
            return cast(
                list[tuple[Any, ...]],
                self._pg.read(lambda conn: conn.execute(sql, params).fetchall()),
            )
        return self._retry(lambda: self.db.conn.execute(sql, params).fetchall())

    def close(self) -> None:
        """Close the connection if the ledger opened it (a shared one belongs to the store)."""
        if self._owns_connection:
            if self._pg is not None:
                self._pg.close()
            else:
                self.db.conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ audit

    def audit(
        self,
        character: str | None,
        player: str | None,
        direction: Direction,
        rule: str,
        category: str | None,
        excerpt: str,
        *,
        time: float | None = None,
    ) -> int:
        """Log a blocked input or output. The excerpt is redacted and cut to 160 characters."""
        if direction not in ("input", "output"):
            raise ValueError(f"direction must be 'input' or 'output', not {direction!r}")
        clean = redact_pii(excerpt)
        if len(clean) > EXCERPT_CHARS:
            clean = clean[: EXCERPT_CHARS - 1] + "…"
        when = self.clock() if time is None else time
        row = (when, character, player, direction, rule, category, clean)

        def insert(conn: Any) -> int:
            cur = conn.execute(
                "INSERT INTO audit (time, character, player, direction, rule, category, excerpt)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                row,
            )
            return int(cur.fetchone()[0])

        audit_id = self._write(insert)
        logger.info("audit %s %s rule=%s character=%s", direction, category, rule, character)
        return audit_id

    def audits(self, *, player: str | None = None, limit: int = 100) -> list[AuditRecord]:
        """Audit records, newest first, optionally for one player."""
        where, params = ("WHERE player = ?", (player,)) if player is not None else ("", ())
        rows = self._read(
            "SELECT id, time, character, player, direction, rule, category, excerpt FROM audit "
            f"{where} ORDER BY id DESC LIMIT ?",
            (*params, limit),
        )
        keys = ("id", "time", "character", "player", "direction", "rule", "category", "excerpt")
        return [AuditRecord(**dict(zip(keys, row, strict=True))) for row in rows]

    # ------------------------------------------------------------------ quotas

    def reserve(
        self,
        player: str,
        *,
        day: str,
        now: float,
        max_questions: int | None = None,
        max_tokens: int | None = None,
        max_spend: float | None = None,
        hold_tokens: int = 0,
        hold_spend: float = 0.0,
    ) -> int:
        """Count one question against ``player``'s quota for ``day`` and return a reservation id.

        Atomic: the check and the increment are one conditional update under the write lock, so
        concurrent callers (threads or processes) can never pass the limit together. The
        reservation holds ``hold_tokens`` and ``hold_spend`` (what its call may use) until it is
        committed or released; tokens and spend held count against the limits as if used.
        Raises :class:`QuotaExceededError` (``kind`` questions, tokens or spend) when the quota
        is used up.
        """
        hold_tokens = max(0, int(hold_tokens))
        hold_spend = max(0.0, float(hold_spend))

        limits: list[str] = []
        bounds: list[float] = []
        if max_questions is not None:
            limits.append(" AND questions < ?")
            bounds.append(max_questions)
        if max_tokens is not None:
            limits.append(" AND tokens + tokens_held < ?")
            bounds.append(max_tokens)
        if max_spend is not None:
            limits.append(" AND spend + spend_held < ?")
            bounds.append(max_spend)

        def attempt(conn: Any) -> int:
            conn.execute(
                "INSERT INTO quota_usage (player, day) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (player, day),
            )
            cur = conn.execute(
                "UPDATE quota_usage SET questions = questions + 1, tokens_held = tokens_held + ?,"
                " spend_held = spend_held + ? WHERE player = ? AND day = ?" + "".join(limits),
                (hold_tokens, hold_spend, player, day, *bounds),
            )
            if cur.rowcount == 0:
                questions, tokens, spend, tokens_held, spend_held = conn.execute(
                    "SELECT questions, tokens, spend, tokens_held, spend_held FROM quota_usage"
                    " WHERE player = ? AND day = ?",
                    (player, day),
                ).fetchone()
                if max_questions is not None and questions >= max_questions:
                    kind, detail = "questions", f"{questions}/{max_questions} questions"
                elif max_tokens is not None and tokens + tokens_held >= max_tokens:
                    kind, detail = (
                        "tokens",
                        f"{tokens}/{max_tokens} tokens, {tokens_held} held by turns under way",
                    )
                else:
                    kind, detail = (
                        "spend",
                        f"{spend:.4f}/{max_spend} spent, {spend_held:.4f} held by turns under way",
                    )
                raise QuotaExceededError(
                    f"player {player!r} has used today's quota ({detail}, day {day})",
                    player=player,
                    kind=kind,
                )
            cur = conn.execute(
                "INSERT INTO quota_reservations (player, day, time, status, tokens_held, spend_held)"
                " VALUES (?, ?, ?, 'open', ?, ?) RETURNING id",
                (player, day, now, hold_tokens, hold_spend),
            )
            return int(cur.fetchone()[0])

        return self._write(attempt, player=player)

    def commit(
        self,
        reservation_id: int,
        *,
        character: str,
        model: str,
        prompt_tokens: int,
        completion_tokens: int,
        latency_ms: float,
        ttft_ms: float | None,
        estimated: bool,
        cost: float,
        charge: float,
        currency: str,
        now: float,
    ) -> int | None:
        """Record the usage of a reserved question and add its tokens and charge to the day's
        quota. Returns the usage row id, or None when the reservation was already settled."""

        def attempt(conn: Any) -> int | None:
            row = conn.execute(
                "SELECT player, day, tokens_held, spend_held FROM quota_reservations WHERE id = ? AND status = 'open'",
                (reservation_id,),
            ).fetchone()
            if row is None:
                return None
            player, day, tokens_held, spend_held = row
            conn.execute(
                "UPDATE quota_reservations SET status = 'committed' WHERE id = ?", (reservation_id,)
            )
            usage_id = conn.execute(
                "INSERT INTO usage (time, day, player, character, model, prompt_tokens, completion_tokens,"
                " latency_ms, ttft_ms, estimated, cost, charge, currency, reservation_id)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    now, day, player, character, model, prompt_tokens, completion_tokens, latency_ms,
                    ttft_ms, int(estimated), cost, charge, currency, reservation_id,
                ),
            ).fetchone()[0]  # fmt: skip
            usage_id = int(usage_id)
            conn.execute(
                "UPDATE quota_usage SET tokens = tokens + ?, spend = spend + ?,"
                f" tokens_held = {_AT_LEAST_ZERO.format('tokens_held')},"
                f" spend_held = {_AT_LEAST_ZERO.format('spend_held')} WHERE player = ? AND day = ?",
                (
                    prompt_tokens + completion_tokens, charge, tokens_held, tokens_held,
                    spend_held, spend_held, player, day,
                ),
            )  # fmt: skip
            return usage_id

        usage_id = self._write(attempt, player=self._reservation_player(reservation_id))
        if usage_id is None:
            logger.warning(
                "reservation %s was already committed or released; usage not recorded",
                reservation_id,
            )
        return usage_id

    def release(self, reservation_id: int) -> bool:
        """Give back an unused reservation (the turn was blocked or failed before the model ran).
        Returns False when it was already settled."""

        def attempt(conn: Any) -> bool:
            row = conn.execute(
                "SELECT tokens_held, spend_held, player, day FROM quota_reservations WHERE id = ? AND status = 'open'",
                (reservation_id,),
            ).fetchone()
            if row is None:
                return False
            conn.execute(
                "UPDATE quota_reservations SET status = 'released' WHERE id = ?", (reservation_id,)
            )
            conn.execute(
                "UPDATE quota_usage SET questions = CASE WHEN questions > 0 THEN questions - 1 ELSE 0 END,"
                f" tokens_held = {_AT_LEAST_ZERO.format('tokens_held')},"
                f" spend_held = {_AT_LEAST_ZERO.format('spend_held')} WHERE player = ? AND day = ?",
                (row[0], row[0], row[1], row[1], row[2], row[3]),
            )
            return True

        return self._write(attempt, player=self._reservation_player(reservation_id))

    def _reservation_player(self, reservation_id: int) -> str | None:
        """The player of a reservation (None when there is none, or on SQLite, which needs no
        per-player lock)."""
        if self._pg is None:
            return None
        rows = self._read("SELECT player FROM quota_reservations WHERE id = ?", (reservation_id,))
        return str(rows[0][0]) if rows else None

    def quota_state(self, player: str, day: str) -> QuotaState:
        """What ``player`` has used on ``day``."""
        rows = self._read(
            "SELECT questions, tokens, spend FROM quota_usage WHERE player = ? AND day = ?",
            (player, day),
        )
        if not rows:
            return QuotaState(player=player, day=day)
        questions, tokens, spend = rows[0]
        return QuotaState(player=player, day=day, questions=questions, tokens=tokens, spend=spend)

    # ------------------------------------------------------------------ reports and player rights

    def usage_totals(
        self,
        *,
        group_by: GroupBy = "player",
        since_day: str | None = None,
        player: str | None = None,
    ) -> list[UsageRow]:
        """Usage summed per ``group_by`` value and currency, largest charge first."""
        if group_by not in ("player", "character", "model", "day"):
            raise ValueError(f"cannot group usage by {group_by!r}")
        clauses, params = [], []
        if since_day is not None:
            clauses.append("day >= ?")
            params.append(since_day)
        if player is not None:
            clauses.append("player = ?")
            params.append(player)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._read(
            f"SELECT COALESCE({group_by}, ''), COALESCE(currency, ''), COUNT(*),"
            " CAST(SUM(prompt_tokens) AS BIGINT), CAST(SUM(completion_tokens) AS BIGINT),"
            f" SUM(cost), SUM(charge), AVG(latency_ms) FROM usage {where}"
            f" GROUP BY 1, 2 ORDER BY SUM(charge) DESC, 1",
            tuple(params),
        )
        return [
            UsageRow(
                key=r[0], currency=r[1], calls=r[2], prompt_tokens=r[3] or 0, completion_tokens=r[4] or 0,
                cost=r[5] or 0.0, charge=r[6] or 0.0, mean_latency_ms=r[7] or 0.0,
            )
            for r in rows
        ]  # fmt: skip

    def export(self, player: str) -> dict[str, list[dict[str, Any]]]:
        """Every ledger row about ``player``, by table."""

        def read(conn: Any) -> dict[str, list[dict[str, Any]]]:
            out = {}
            for table in LEDGER_TABLES:
                cur = conn.execute(f"SELECT * FROM {table} WHERE player = ?", (player,))
                names = [d[0] for d in cur.description]
                out[table] = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            return out

        if self._pg is not None:
            return cast(dict[str, list[dict[str, Any]]], self._pg.read(read))
        return self._retry(lambda: read(self.db.conn))

    def forget(self, player: str) -> None:
        """Delete every ledger row about ``player``."""

        def attempt(conn: Any) -> None:
            for table in LEDGER_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE player = ?", (player,))

        self._write(attempt, player=player)
