"""The default model at catalog scale: the bot's ranking of a SQLite catalog of N tracks.

    PYTHONPATH=. .venv/bin/python bench/catalog_scale.py --tracks 1000000 [--database PATH]

Prints one JSON line: tracks, model, build_s (the ranker's `prepare`, as at the bot's start),
query_ms_median (200 queries through `CatalogRanker.rank`, the recommender's ranking: exact
below the crossover, the standardised index above it), recall_at_10 (against today's exact
ranking, the catalog standardised with its own statistics), rss_mb (the bot process's peak
resident memory before the exact comparison), max_loop_stall_ms (the longest the event loop
was kept from a 1 ms timer while another process committed 1,000 more tracks, one
transaction each as an import does, and the bot kept answering), copies_found (re-encodes of
catalog tracks recognised as that track, `CatalogRanker.nearest`), and the exact figures
beside them: exact_space_s (standardising the catalog, what every revision cost before),
exact_query_ms_median and exact_rss_mb (the raw and standardised matrices the exact ranking holds).

The catalog is written once through storage's API (`EmbeddingRepository.put_many`, 20,000 tracks
a transaction) and reused when `--database` names an existing file of N tracks. Its vectors
are synthetic fused vectors of the default model (fusion:aisfx+msd-vgg/pool5, 768-d): per part,
the shipped prior's mean plus its spread times a clustered direction (1,000 clusters, each track
0.6 its cluster's and 0.8 its own direction), each part at unit length, the whole at unit
length, as stored fused vectors are. A real catalog is more clustered (albums, artists), which
makes an index's recall higher, not lower.
"""

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

from catalog.ranker import CatalogRanker
from catalog.recommender import RESULTS_KEPT
from core.models import parse_model_spec
from core.ranking import Ranking, rank
from core.standardise import RankingSpace, Statistics, load_prior
from storage import Database

SPEC = parse_model_spec("fusion:aisfx+msd-vgg")
MODEL = SPEC.model_id
WRITE_CHUNK = 20_000
CLUSTERS = 1_000
QUERIES = 200
ADDED = 1_000


def prior() -> Statistics:
    found = load_prior(MODEL)
    assert found is not None, "core/models/priors lacks the fusion's prior"
    return found


def fused(count: int, seed: int) -> npt.NDArray[np.float32]:
    """`count` synthetic stored vectors of the default model (see the module)."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(7).standard_normal((CLUSTERS, sum(SPEC.part_sizes)))
    z = 0.6 * centres[rng.integers(0, CLUSTERS, count)] + 0.8 * rng.standard_normal(
        (count, sum(SPEC.part_sizes))
    )
    return as_stored(prior().mean + prior().std * z)


def as_stored(raw: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    """Each part at unit length, the whole at unit length."""
    parts, start = [], 0
    for size in SPEC.part_sizes:
        part = raw[:, start : start + size]
        parts.append(part / np.linalg.norm(part, axis=1, keepdims=True))
        start += size
    return (np.concatenate(parts, axis=1) / np.sqrt(len(parts))).astype(np.float32)


def reencoded(vectors: npt.NDArray[np.float32], seed: int) -> npt.NDArray[np.float32]:
    """Copies as a re-encode gives them: plain cosine ≈ 0.99 to the stored vector."""
    rng = np.random.default_rng(seed)
    noisy = vectors + rng.normal(0, 0.1 / np.sqrt(vectors.shape[1]), vectors.shape)
    return as_stored(noisy)


def chunks(first: int, count: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(first, first + count, size):
        yield start, min(size, first + count - start)


async def write(path: Path, first: int, count: int, per_commit: int) -> None:
    """Tracks first…first+count-1 (ids as the tracks table gives them) with their vectors."""
    async with Database(path) as database:
        for start, size in chunks(first, count, per_commit):
            vectors = fused(size, seed=start)
            if per_commit == 1:  # as an import commits: the track, then its vector
                track_id = await database.tracks.add(f"{start:064x}", f"track {start}")
                await database.embeddings.put(track_id, MODEL, vectors[0])
                continue
            async with database.connector.transaction() as tx:
                await tx.executemany(
                    "INSERT INTO tracks (id, sha256, title) VALUES (?, ?, ?)",
                    ((i, f"{i:064x}", f"track {i}") for i in range(start, start + size)),
                )
            await database.embeddings.put_many(
                MODEL, list(zip(range(start, start + size), vectors, strict=True))
            )


async def trim(path: Path, tracks: int) -> None:
    """Remove the tracks an earlier run imported after the first `tracks`."""
    async with Database(path) as database:
        rows = await database.connector.fetchall(
            "SELECT id FROM tracks WHERE id > ? ORDER BY id", (tracks,)
        )
        for row in rows:
            await database.tracks.remove(int(row["id"]))


def recall(found: list[npt.NDArray[np.int64]], truths: list[npt.NDArray[np.int64]]) -> float:
    pairs = zip(found, truths, strict=True)
    hits = sum(len(set(a[:10].tolist()) & set(b[:10].tolist())) for a, b in pairs)
    return round(hits / (10 * len(truths)), 4)


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def now_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def as_uploaded(
    ranker: CatalogRanker, query: npt.NDArray[np.float32]
) -> tuple[Ranking, Ranking]:
    """What the recommender asks of the ranker for an uploaded track: its ranking, and the
    stored vector nearest to it (copy detection)."""
    ranking = await ranker.rank(query, RESULTS_KEPT + 1)
    return ranking, await ranker.nearest(query, ranking)


async def ticking(stalls: list[float], stop: asyncio.Event) -> None:
    """How late a 1 ms timer fires, over and over: the event loop's stalls."""
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(0.001)
        stalls.append((time.perf_counter() - started - 0.001) * 1000)


async def serve(path: Path, tracks: int) -> dict[str, object]:
    """The bot's side: prepare, query, keep answering while another process imports."""
    result: dict[str, object] = {"tracks": tracks, "model": MODEL, "cores": os.cpu_count()}
    # the importing process is started now and waits for its cue: forking a process of two GB
    # later would itself stall the loop (page tables copied), which the bot never does
    writer = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--write", str(path), "--first", str(tracks + 1),
        "--tracks", str(ADDED), "--per-commit", "1", "--cue", stdin=subprocess.PIPE,
    )  # fmt: skip
    base = now_mb()
    async with Database(path) as database:
        ranker = CatalogRanker(database, SPEC)
        started = time.perf_counter()
        prepared = await ranker.prepare()
        result["build_s"] = round(time.perf_counter() - started, 2)
        assert prepared == tracks, f"{prepared} tracks prepared, {tracks} written"
        indexed = ranker.spaces.generation is not None
        result["ranked_by"] = "index" if indexed else "exact"
        result["ranking_mb_per_million"] = round((now_mb() - base) / tracks * 1e6)
        sources = np.random.default_rng(11).choice(np.arange(1, tracks + 1), QUERIES // 2)
        stored = await database.embeddings.vectors(MODEL, [int(i) for i in sources])
        queries = np.concatenate(
            [
                reencoded(np.stack([stored[int(i)] for i in sources]), 12),
                fused(QUERIES - len(sources), seed=10**9),
            ]
        )
        times, found = [], []
        copies = 0
        for number, query in enumerate(queries):
            started = time.perf_counter()
            ranking, nearest = await as_uploaded(ranker, query)
            times.append((time.perf_counter() - started) * 1000)
            found.append(ranking.ids[:10])
            if number < len(sources) and len(nearest):
                copies += int(nearest.ids[0]) == int(sources[number])
        result["query_ms_median"] = round(statistics.median(times), 2)
        result["copies_found"] = f"{copies}/{len(sources)}"

        # another process imports ADDED tracks while the bot answers a query every 20 ms
        stalls: list[float] = []
        stop = asyncio.Event()
        ticker = asyncio.create_task(ticking(stalls, stop))
        assert writer.stdin is not None
        writer.stdin.write(b"go\n")  # the writer was started before the bot grew (see above)
        await writer.stdin.drain()
        during: list[float] = []
        while writer.returncode is None:
            started = time.perf_counter()
            await as_uploaded(ranker, queries[len(during) % QUERIES])
            during.append((time.perf_counter() - started) * 1000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(writer.wait(), 0.02)
        await ranker.rank(queries[0], RESULTS_KEPT + 1)  # sees the last revision
        await ranker.settled()  # the background index update or space recompute
        stop.set()
        await ticker
        result["max_loop_stall_ms"] = round(max(stalls), 1)
        result["query_ms_median_while_importing"] = round(statistics.median(during), 2)
        generation = ranker.spaces.generation
        if generation is not None:
            result["indexed_after_import"] = generation.count
        result["rss_mb"] = round(peak_mb())
        # the answers to the same queries from the catalog as it now is, for the recall
        found = [(await ranker.rank(q, RESULTS_KEPT + 1)).ids[:10] for q in queries]

        # exact ranking in the same space (the generation's frozen statistics): the recall
        catalog = await database.embeddings.load_catalog(MODEL)
        same = generation.space if generation is not None else None
        if same is not None:
            matrix = await asyncio.to_thread(same.rows, catalog.matrix)
            truths = [rank(same.query(q), matrix, catalog.track_ids, 10).ids for q in queries]
            del matrix
        # today's exact ranking beside it: the catalog standardised with its own statistics,
        # as every revision did before (the moving statistics)
        started = time.perf_counter()
        space = await asyncio.to_thread(
            RankingSpace.of, catalog.matrix, SPEC.part_sizes, prior(), SPEC.standardised_parts
        )
        result["exact_space_s"] = round(time.perf_counter() - started, 2)
        exact_times, moving = [], []
        for query in queries:
            started = time.perf_counter()
            truth = rank(space.query(query), space.matrix, catalog.track_ids, RESULTS_KEPT + 1)
            exact_times.append((time.perf_counter() - started) * 1000)
            moving.append(truth.ids[:10])
        if same is None:
            truths = moving
        result["recall_at_10"] = recall(found, truths)
        result["recall_at_10_vs_moving_statistics"] = recall(found, moving)
        result["exact_query_ms_median"] = round(statistics.median(exact_times), 2)
        result["exact_rss_mb"] = round(peak_mb())
    result["load_average"] = round(os.getloadavg()[0], 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--database", type=Path, help="reused when it holds --tracks tracks")
    parser.add_argument("--write", type=Path, help=argparse.SUPPRESS)  # the writer process
    parser.add_argument("--first", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--per-commit", type=int, default=WRITE_CHUNK, help=argparse.SUPPRESS)
    parser.add_argument("--cue", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write is not None:
        if args.cue:
            sys.stdin.readline()
        asyncio.run(write(args.write, args.first, args.tracks, args.per_commit))
        return
    folder = None
    if args.database is None:
        folder = tempfile.TemporaryDirectory(prefix="catalog-scale-")
        args.database = Path(folder.name) / "catalog.sqlite3"
    written = 0.0
    if not args.database.exists():
        started = time.perf_counter()
        command = [sys.executable, __file__, "--write", str(args.database)]
        subprocess.run([*command, "--tracks", str(args.tracks)], check=True)
        written = time.perf_counter() - started
    else:  # a reused file: drop the tracks an earlier run imported beside the N
        asyncio.run(trim(args.database, args.tracks))
    result = asyncio.run(serve(args.database, args.tracks))
    result["catalog_write_s"] = round(written, 1)
    print(json.dumps(result), flush=True)
    if folder is not None:
        folder.cleanup()


if __name__ == "__main__":
    main()
