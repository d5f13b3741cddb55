"""Exact ranking against the approximate index (core/index.py), on random unit vectors.

    python bench/index_speed.py [--sizes 10000 30000 100000 1000000] [--ten-million]

For each catalog size: exact top-100 (core.ranking.rank, median ms per query); the index's
top-100 alone (median ms); and the bot's path above the crossover (bot/catalog_index.py), the
headline figure: the index's top-100, their float32 rows read by id from a real SQLite catalog
of that size (storage's EmbeddingRepository.load_rows, through aiosqlite as in the bot) and
re-scored exactly. Recall@10 of the index alone and of the bot's path against exact; build time;
the index's resident memory per million vectors (resident memory before and after the build),
which is what the bot holds for ranking above the crossover, where it releases the catalog
matrix. Then the measured crossover: the smallest size at which the bot's path is faster than
exact at recall@10 ≥ 0.98.

Random unit vectors are the hard case for any index: nothing is clustered, and the 10th
neighbour of a query is barely closer than the 1000th. A real catalog is much more clustered.

--ten-million adds 10,000,000 vectors, generated and indexed in chunks: their float32 matrix
(10 GB) is never held, so exact ranking there is extrapolated from the largest measured size
(it is linear in the catalog size) and its ground truth computed chunk by chunk. The SQLite
catalog of each size is written to a temporary folder (--folder; 11 GB at 10 million) and
removed afterwards; it is read while the operating system still caches it, as a bot's would be.
"""

import argparse
import asyncio
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core import index as ann
from core.ranking import rank
from storage import CatalogCache, Database

DIM = 256  # msd-vgg/pool5
MODEL = "bench/random-unit"
K = 100
CHUNK = 250_000
HELD = 2_000_000  # above this the float32 matrix is not kept (exact is extrapolated)
TARGET_RECALL = 0.98


def write_catalog(path: Path, n: int) -> None:
    """A SQLite catalog (the bot's schema) of the n vectors `chunks(n, n)`, track ids 1…n."""

    async def create() -> None:
        await (await Database(path).open()).close()

    asyncio.run(create())
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode = OFF")  # a bulk load: no 11 GB WAL to checkpoint
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        offset = 0
        for part in chunks(n, n):
            ids = range(offset + 1, offset + len(part) + 1)
            conn.executemany(
                "INSERT INTO tracks (id, sha256, title) VALUES (?, ?, ?)",
                ((i, f"{i:064x}", f"t{i}") for i in ids),
            )
            conn.executemany(
                "INSERT INTO embeddings (track_id, model_id, dim, vector) VALUES (?, ?, ?, ?)",
                ((i, MODEL, DIM, row.tobytes()) for i, row in zip(ids, part, strict=True)),
            )
            offset += len(part)
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = WAL")  # as the bot keeps it
    finally:
        conn.close()


async def bot_path(
    path: Path, index: ann.VectorIndex, queries: npt.NDArray[np.float32]
) -> tuple[list[npt.NDArray[np.int64]], list[float], list[float]]:
    """As bot/catalog_index.py above the crossover: the index's top-K, their rows read by id
    from the database, re-scored exactly; per query the ids, the whole time, the read's time."""
    found: list[npt.NDArray[np.int64]] = []
    times: list[float] = []
    reads: list[float] = []
    async with Database(path, read_only=True) as database:
        catalogs = CatalogCache(database.embeddings, MODEL)
        await catalogs.rows(index.search(queries[0], K).ids)  # warm-up
        for query in queries:
            t = time.perf_counter()
            candidates = index.search(query, K)
            r = time.perf_counter()
            rows = await catalogs.rows(candidates.ids)
            reads.append(time.perf_counter() - r)
            found.append(rank(query, rows.matrix, rows.track_ids, K).ids)
            times.append(time.perf_counter() - t)
            assert len(rows) == len(candidates)
    return found, times, reads


def chunks(n: int, seed: int) -> Iterator[npt.NDArray[np.float32]]:
    """n random unit rows, CHUNK at a time, the same for the same seed."""
    for start in range(0, n, CHUNK):
        rng = np.random.default_rng([seed, start])
        rows = rng.standard_normal((min(CHUNK, n - start), DIM), dtype=np.float32)
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        yield rows


def resident_bytes() -> int:
    statm = Path("/proc/self/statm").read_text()
    return int(statm.split()[1]) * os.sysconf("SC_PAGE_SIZE")


def recall(found: list[npt.NDArray[np.int64]], exact: list[npt.NDArray[np.int64]]) -> float:
    return float(
        np.mean([len(set(f[:10]) & set(e[:10])) / 10 for f, e in zip(found, exact, strict=True)])
    )


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def measure(
    n: int, queries: npt.NDArray[np.float32], exact_runs: int, hold: int, folder: Path
) -> dict[str, float]:
    ids = np.arange(1, n + 1, dtype=np.int64)  # the SQLite catalog's track ids
    held = n <= hold
    matrix = np.concatenate(list(chunks(n, n))) if held else None
    before = resident_bytes()
    started = time.perf_counter()
    if matrix is not None:
        index = ann.VectorIndex.build(MODEL, ids, matrix, revision=1)
    else:
        parts = chunks(n, n)
        first = next(parts)
        index = ann.VectorIndex.build(MODEL, ids[: len(first)], first, revision=1)
        offset = len(first)
        del first
        for part in parts:
            index.add(ids[offset : offset + len(part)], part, revision=1)
            offset += len(part)
    build_s = time.perf_counter() - started
    memory = resident_bytes() - before

    exact_ids: list[npt.NDArray[np.int64]] = []
    exact_times: list[float] = []
    if matrix is not None:
        rank(queries[0], matrix, ids, K)  # warm-up
        for i, query in enumerate(queries):
            t = time.perf_counter()
            exact_ids.append(rank(query, matrix, ids, K).ids)
            if i < exact_runs or n <= 100_000:  # small sizes: every query timed
                exact_times.append(time.perf_counter() - t)
        del matrix
    else:  # ground truth chunk by chunk: (chunk, dim) @ (dim, queries)
        best_scores = np.full((len(queries), 0), -np.inf, np.float32)
        best_ids = np.zeros((len(queries), 0), np.int64)
        offset = 0
        for part in chunks(n, n):
            scores = (part @ queries.T).T
            top = np.argpartition(-scores, 10, axis=1)[:, :10]
            best_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, 1)], 1)
            best_ids = np.concatenate([best_ids, ids[offset:][top]], 1)
            offset += len(part)
        order = np.argsort(-best_scores, axis=1)[:, :10]
        exact_ids = [row[rank_order] for row, rank_order in zip(best_ids, order, strict=True)]

    found: list[npt.NDArray[np.int64]] = []
    index_times: list[float] = []
    index.search(queries[0], K)  # warm-up
    for query in queries:
        t = time.perf_counter()
        candidates = index.search(query, K)
        index_times.append(time.perf_counter() - t)
        found.append(candidates.ids)

    database = folder / f"catalog-{n}.sqlite3"
    try:
        written = time.perf_counter()
        write_catalog(database, n)
        write_s = time.perf_counter() - written
        served, bot_times, reads = asyncio.run(bot_path(database, index, queries))
    finally:
        for leftover in folder.glob(f"catalog-{n}.sqlite3*"):
            leftover.unlink()
    return {
        "n": n,
        "exact_ms": median_ms(exact_times) if exact_times else float("nan"),
        "index_ms": median_ms(index_times),
        "recall": recall(found, exact_ids),
        "bot_ms": median_ms(bot_times),
        "bot_recall": recall(served, exact_ids),
        "read_ms": median_ms(reads),
        "build_s": build_s,
        "write_s": write_s,
        "mb_per_million": memory / n * 1e6 / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[1_000, 3_000, 10_000, 30_000, 100_000, 1_000_000]
    )
    parser.add_argument("--ten-million", action="store_true", help="add 10,000,000 (chunked)")
    parser.add_argument(
        "--hold", type=int, default=HELD, help="largest size whose float32 matrix is kept"
    )
    parser.add_argument("--queries", type=int, default=200, help="queries per size")
    parser.add_argument("--exact-runs", type=int, default=50, help="exact queries timed above 100k")
    parser.add_argument("--folder", type=Path, help="where the SQLite catalogs are written")
    arguments = parser.parse_args()
    if not ann.available():
        raise SystemExit("faiss is not installed: pip install -r requirements-scale.txt")
    sizes = sorted(arguments.sizes) + ([10_000_000] if arguments.ten_million else [])
    rng = np.random.default_rng(12345)
    queries = rng.standard_normal((arguments.queries, DIM), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    print(
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {DIM}-d random unit "
        f"vectors, top-{K}, medians of {arguments.queries} queries (exact: "
        f"{arguments.exact_runs} timed above 100,000), faiss {ann.subquantisers(DIM)}x4-bit "
        f"fast-scan PQ + SQ8 re-score, k_factor {ann.K_FACTOR}, {ann.THREADS} thread"
    )
    print(
        "bot: the index's top-100, their rows read by id from SQLite, re-scored exactly "
        "(bot/catalog_index.py above the crossover); MB/million: the index's resident size, "
        "all the bot holds for ranking there"
    )
    print(
        f"{'vectors':>11} {'exact ms':>9} {'index ms':>9} {'recall@10':>9} "
        f"{'bot ms':>8} {'recall@10':>9} {'(read ms)':>9} {'build s':>8} {'MB/million':>10}"
    )
    folder = arguments.folder or Path(tempfile.mkdtemp(prefix="index-speed-"))
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, float]] = []
    try:
        for n in sizes:
            row = measure(n, queries, arguments.exact_runs, arguments.hold, folder)
            if np.isnan(row["exact_ms"]) and rows:  # not held: linear in the catalog size
                largest = rows[-1]
                row["exact_ms"] = largest["exact_ms"] * n / largest["n"]
            rows.append(row)
            extrapolated = "*" if n > arguments.hold else " "
            print(
                f"{n:>11,} {row['exact_ms']:>8.2f}{extrapolated} {row['index_ms']:>9.2f} "
                f"{row['recall']:>9.3f} {row['bot_ms']:>8.2f} {row['bot_recall']:>9.3f} "
                f"{row['read_ms']:>9.2f} {row['build_s']:>8.1f} {row['mb_per_million']:>10.0f}"
                f"   (load {os.getloadavg()[0]:.1f})",
                flush=True,
            )
    finally:
        if arguments.folder is None:
            shutil.rmtree(folder, ignore_errors=True)
    faster = [  # as the bot ranks: index candidates re-scored exactly from their rows
        r["n"] for r in rows if r["bot_ms"] < r["exact_ms"] and r["bot_recall"] >= TARGET_RECALL
    ]
    print(
        f"crossover: the bot's index path is faster at recall@10 ≥ {TARGET_RECALL} from "
        f"{min(faster):,} vectors (core.index.CROSSOVER = {ann.CROSSOVER:,})"
        if faster
        else "crossover: the index was not faster at any measured size"
    )
    if any(n > arguments.hold for n in sizes):
        print("* extrapolated from the largest held size (the float32 matrix is not kept)")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
