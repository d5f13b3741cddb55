"""Exact ranking against the approximate index (core/index.py), on random unit vectors.

    python bench/index_speed.py [--sizes 10000 30000 100000 1000000] [--ten-million]

For each catalog size: exact top-100 (core.ranking.rank, median ms per query) and the index's
top-100 (median ms), which is what the bot serves above the crossover (catalog/index.py
ranks with the index alone, its half-precision copies giving the scores), with its recall@10
against exact; build time; and the index's resident memory per million vectors (resident
memory before and after the build), which is what the bot holds for ranking there: it releases
the catalog's float32 matrix once the index is current. Then the measured crossover: the
smallest size at which the index is faster at recall@10 ≥ 0.98.

Random unit vectors are the hard case for any index: nothing is clustered, and the 10th
neighbour of a query is barely closer than the 1000th. A real catalog is much more clustered.

--bot-memory N builds a SQLite catalog of N vectors and measures the bot's own resident memory
for ranking: a CatalogIndex prepared from a CatalogCache as at the bot's start (the matrix read,
the index built, the matrix released), against the same cache holding the matrix as the bot
does below the crossover.

--ten-million adds 10,000,000 vectors, generated and indexed in chunks: their float32 matrix
(10 GB) is never held, so exact ranking there is extrapolated from the largest measured size
(it is linear in the catalog size) and its ground truth computed chunk by chunk.
"""

import argparse
import asyncio
import gc
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from catalog.index import CatalogIndex
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
        conn.execute("PRAGMA journal_mode = OFF")  # a bulk load
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


async def bot_memory(path: Path) -> tuple[int, int, float]:
    """The bot's resident bytes for ranking a catalog above the crossover (index, no matrix)
    and below it (the cached matrix), and the index's preparation time."""
    async with Database(path) as database:
        gc.collect()
        before = resident_bytes()
        catalogs = CatalogCache(database.embeddings, MODEL)
        index = CatalogIndex(None, MODEL)  # kept in memory: nothing written beside the file
        started = time.perf_counter()
        await index.prepare(catalogs)
        prepared_s = time.perf_counter() - started
        assert index.builds == 1 and not catalogs.held
        gc.collect()
        with_index = resident_bytes() - before
        catalog = await catalogs.get()  # as below the crossover: the matrix held
        gc.collect()
        with_matrix = resident_bytes() - before - with_index
        del catalog
    return with_index, with_matrix, prepared_s


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
    n: int, queries: npt.NDArray[np.float32], exact_runs: int, hold: int
) -> dict[str, float]:
    ids = np.arange(1, n + 1, dtype=np.int64)
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

    return {
        "n": n,
        "exact_ms": median_ms(exact_times) if exact_times else float("nan"),
        "index_ms": median_ms(index_times),
        "recall": recall(found, exact_ids),
        "build_s": build_s,
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
    parser.add_argument(
        "--bot-memory", type=int, metavar="N", help="only the bot's memory, on N vectors"
    )
    arguments = parser.parse_args()
    if not ann.available():
        raise SystemExit("faiss is not installed: pip install -r requirements-scale.txt")
    if arguments.bot_memory:
        n = arguments.bot_memory
        with tempfile.TemporaryDirectory(prefix="index-speed-") as folder:
            path = Path(folder) / "catalog.sqlite3"
            write_catalog(path, n)
            with_index, with_matrix, prepared_s = asyncio.run(bot_memory(path))
        print(
            f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {n:,} {DIM}-d "
            f"vectors in SQLite: the bot's resident memory for ranking above the crossover "
            f"(index, matrix released) {with_index / n * 1e6 / 2**20:.0f} MB/million "
            f"(prepared in {prepared_s:.1f} s); the matrix it holds below the crossover "
            f"{with_matrix / n * 1e6 / 2**20:.0f} MB/million more"
        )
        return
    sizes = sorted(arguments.sizes) + ([10_000_000] if arguments.ten_million else [])
    rng = np.random.default_rng(12345)
    queries = rng.standard_normal((arguments.queries, DIM), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    print(
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {DIM}-d random unit "
        f"vectors, top-{K}, medians of {arguments.queries} queries (exact: "
        f"{arguments.exact_runs} timed above 100,000), faiss {ann.subquantisers(DIM)}x4-bit "
        f"fast-scan PQ + {ann.REFINE} re-score, k_factor {ann.K_FACTOR}, {ann.THREADS} thread"
    )
    print(
        "index: what the bot serves above the crossover; MB/million: the index's resident "
        "size, all the bot holds for ranking there (no float32 matrix)"
    )
    print(
        f"{'vectors':>11} {'exact ms':>9} {'index ms':>9} {'recall@10':>9} "
        f"{'build s':>8} {'MB/million':>10}"
    )
    rows: list[dict[str, float]] = []
    for n in sizes:
        row = measure(n, queries, arguments.exact_runs, arguments.hold)
        if np.isnan(row["exact_ms"]) and rows:  # not held: linear in the catalog size
            largest = rows[-1]
            row["exact_ms"] = largest["exact_ms"] * n / largest["n"]
        rows.append(row)
        extrapolated = "*" if n > arguments.hold else " "
        print(
            f"{n:>11,} {row['exact_ms']:>8.2f}{extrapolated} {row['index_ms']:>9.2f} "
            f"{row['recall']:>9.3f} {row['build_s']:>8.1f} {row['mb_per_million']:>10.0f}"
            f"   (load average {os.getloadavg()[0]:.1f})",
            flush=True,
        )
    faster = [
        r["n"] for r in rows if r["index_ms"] < r["exact_ms"] and r["recall"] >= TARGET_RECALL
    ]
    print(
        f"crossover: the index is faster at recall@10 ≥ {TARGET_RECALL} from "
        f"{min(faster):,} vectors (core.index.CROSSOVER = {ann.CROSSOVER:,})"
        if faster
        else "crossover: the index was not faster at any measured size"
    )
    if any(n > arguments.hold for n in sizes):
        print("* extrapolated from the largest held size (the float32 matrix is not kept)")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
