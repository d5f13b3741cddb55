"""Exact ranking against the approximate index (core/index.py), on random unit vectors.

    python bench/index_speed.py [--sizes 10000 30000 100000 1000000] [--ten-million]

For each catalog size: exact top-100 (core.ranking.rank, median ms per query), the index's
top-100 (median ms), the index's top-100 re-scored exactly from the catalog matrix as the bot
does (bot/catalog_index.py), recall@10 of both against exact, build time, and the memory the
index adds per million vectors (resident memory before and after the build). Then the measured
crossover: the smallest size at which the index is faster at recall@10 ≥ 0.98.

Random unit vectors are the hard case for any index: nothing is clustered, and the 10th
neighbour of a query is barely closer than the 1000th. A real catalog is much more clustered.

--ten-million adds 10,000,000 vectors, generated and indexed in chunks: their float32 matrix
(10 GB) is never held, so exact ranking there is extrapolated from the largest measured size
(it is linear in the catalog size) and its ground truth computed chunk by chunk; the re-score
there is timed on the candidates' rows, gathered beforehand from regenerated chunks (gathering
100 rows from a held 10 GB matrix, which the bot would do, is not in the time).
"""

import argparse
import os
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core import index as ann
from core.ranking import rank

DIM = 256  # msd-vgg/pool5
MODEL = "bench/random-unit"
K = 100
CHUNK = 250_000
HELD = 2_000_000  # above this the float32 matrix is not kept (exact is extrapolated)
TARGET_RECALL = 0.98


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
    ids = np.arange(n, dtype=np.int64)
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
    else:  # ground truth chunk by chunk: (chunk, dim) @ (dim, queries)
        best_scores = np.full((len(queries), 0), -np.inf, np.float32)
        best_ids = np.zeros((len(queries), 0), np.int64)
        offset = 0
        for part in chunks(n, n):
            scores = (part @ queries.T).T
            top = np.argpartition(-scores, 10, axis=1)[:, :10]
            best_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, 1)], 1)
            best_ids = np.concatenate([best_ids, top + offset], 1)
            offset += len(part)
        order = np.argsort(-best_scores, axis=1)[:, :10]
        exact_ids = [row[rank_order] for row, rank_order in zip(best_ids, order, strict=True)]

    found: list[npt.NDArray[np.int64]] = []
    rescored: list[npt.NDArray[np.int64]] = []
    index_times: list[float] = []
    rescored_times: list[float] = []
    index.search(queries[0], K)  # warm-up
    for query in queries:
        t = time.perf_counter()
        candidates = index.search(query, K)
        index_times.append(time.perf_counter() - t)
        found.append(candidates.ids)
        if matrix is not None:  # as bot/catalog_index.py: exact scores of the candidates
            rows = np.searchsorted(ids, candidates.ids)
            rescored.append(rank(query, matrix[rows], ids[rows], K).ids)
            rescored_times.append(time.perf_counter() - t)
    if matrix is None:  # the candidates' float32 rows, regenerated chunk by chunk, untimed
        vectors = [np.zeros((len(f), DIM), np.float32) for f in found]
        for number, part in enumerate(chunks(n, n)):
            low = number * CHUNK
            for candidates_ids, rows_of in zip(found, vectors, strict=True):
                inside = (candidates_ids >= low) & (candidates_ids < low + len(part))
                rows_of[inside] = part[candidates_ids[inside] - low]
        for query, candidates_ids, rows_of, searched in zip(
            queries, found, vectors, index_times, strict=True
        ):
            t = time.perf_counter()  # timed: the re-score; not: gathering 100 rows of 10 GB
            rescored.append(rank(query, rows_of, candidates_ids, K).ids)
            rescored_times.append(searched + time.perf_counter() - t)
    return {
        "n": n,
        "exact_ms": median_ms(exact_times) if exact_times else float("nan"),
        "index_ms": median_ms(index_times),
        "rescored_ms": median_ms(rescored_times) if rescored_times else float("nan"),
        "recall": recall(found, exact_ids),
        "rescored_recall": recall(rescored, exact_ids) if rescored else float("nan"),
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
    arguments = parser.parse_args()
    if not ann.available():
        raise SystemExit("faiss is not installed: pip install -r requirements-scale.txt")
    sizes = sorted(arguments.sizes) + ([10_000_000] if arguments.ten_million else [])
    rng = np.random.default_rng(12345)
    queries = rng.standard_normal((arguments.queries, DIM), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    print(
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {DIM}-d random unit "
        f"vectors, top-{K}, {arguments.queries} queries (exact: {arguments.exact_runs} timed), "
        f"faiss {ann.subquantisers(DIM)}x4-bit fast-scan PQ + SQ8 re-score, "
        f"k_factor {ann.K_FACTOR}, {ann.THREADS} thread"
    )
    print(
        f"{'vectors':>11} {'exact ms':>9} {'index ms':>9} {'recall@10':>9} "
        f"{'+rescore ms':>11} {'recall@10':>9} {'build s':>8} {'MB/million':>10}"
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
            f"{row['recall']:>9.3f} {row['rescored_ms']:>11.2f} {row['rescored_recall']:>9.3f} "
            f"{row['build_s']:>8.1f} {row['mb_per_million']:>10.0f}",
            flush=True,
        )
    faster = [  # as the bot ranks: index candidates re-scored exactly
        r["n"]
        for r in rows
        if r["rescored_ms"] < r["exact_ms"] and r["rescored_recall"] >= TARGET_RECALL
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
