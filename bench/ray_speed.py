"""The Ray backend on this machine against the local process pool, with the default model.

    .venv/bin/python bench/ray_speed.py [--tracks 12] [--runs 3] [--model msd-vgg/pool5]

Needs the optional `ray` (requirements-ray.txt). Starts real Ray clusters on this machine with
the tests' helper (tests/ray_cluster.py: token auth, one CPU per node) and prints, with the
cores and load average:

1. per-track overhead: one track at a time (so each waits for nothing but itself), the median
   seconds per track through two Ray actors (a two-node cluster) and through two local worker
   processes — both one TensorFlow thread per worker — and their difference;
2. import throughput: the real Importer into a fresh SQLite file, tracks/s with the local pool
   (1 and 2 workers) and on Ray with one node and with two (one actor each). On one machine the
   nodes share its cores, so two nodes measure the Ray machinery, not more hardware.

Tracks are generated 4-minute 192 kbps stereo mp3s (bench.embedding_speed.make_track); model
start-up is excluded (paid once per import); medians of `--runs`.
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "tests"))

from ray_cluster import running_cluster  # noqa: E402  (sets Ray's token before ray is imported)

from bench.embedding_speed import make_track  # noqa: E402
from bot.importer import Importer  # noqa: E402
from core.embedding_service import Embedder, EmbeddingService  # noqa: E402
from core.models import DEFAULT_MODEL, ModelSpec, parse_model_spec  # noqa: E402
from core.ray_embedding import RayEmbeddingService  # noqa: E402
from storage import Database  # noqa: E402

Factory = Callable[[], Embedder]


def load() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


async def per_track(make: Factory, tracks: list[Path], runs: int) -> list[float]:
    """Seconds per track, one track at a time, `runs` passes over `tracks` (warm service)."""
    async with make() as service:
        await service.embed(tracks[0])  # the first call's one-off costs
        times = []
        for _ in range(runs):
            for track in tracks:
                started = time.perf_counter()
                await service.embed(track)
                times.append(time.perf_counter() - started)
    return times


async def imports(make: Factory, folder: Path, scratch: Path, runs: int) -> list[float]:
    """Seconds to import `folder` into a fresh catalog, `runs` times, the service warm."""
    times = []
    async with make() as service:
        for run in range(runs):
            async with Database(scratch / f"{id(service)}-{run}.sqlite3") as database:
                started = time.perf_counter()
                summary = await Importer(database, service).run([folder])
                times.append(time.perf_counter() - started)
            if summary.failures or summary.added != len(list(folder.iterdir())):
                raise RuntimeError(f"unexpected import result: {summary.lines()}")
    return times


def ray_service(spec: ModelSpec, address: str, workers: int) -> Factory:
    return lambda: RayEmbeddingService(spec, workers=workers, address=address)


def pool(spec: ModelSpec, workers: int) -> Factory:
    return lambda: EmbeddingService(spec, workers=workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=12)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    arguments = parser.parse_args()
    spec = parse_model_spec(arguments.model)
    print(
        f"cores: {os.cpu_count()}   load average at start: {load()}   model {spec.model_id}   "
        f"{arguments.tracks} four-minute mp3s, medians of {arguments.runs} runs"
    )
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        folder = scratch / "music"
        folder.mkdir()
        tracks = [
            make_track(folder / f"track {i:03d}.mp3", variant=i) for i in range(arguments.tracks)
        ]
        sample = tracks[: max(1, min(4, len(tracks)))]

        print("1. per-track overhead (one track at a time, 2 workers of 1 thread each)")
        local = statistics.median(asyncio.run(per_track(pool(spec, 2), sample, arguments.runs)))
        with running_cluster(nodes=2) as cluster:
            remote = statistics.median(
                asyncio.run(
                    per_track(ray_service(spec, cluster.address, 2), sample, arguments.runs)
                )
            )
        print(f"   process pool {local:.3f} s/track   Ray {remote:.3f} s/track   "
              f"overhead {remote - local:+.3f} s ({(remote / local - 1) * 100:+.0f} %)   "
              f"load {load()}")  # fmt: skip

        print("2. import throughput (the real Importer, fresh catalog each run)")
        for workers in (1, 2):
            seconds = statistics.median(
                asyncio.run(imports(pool(spec, workers), folder, scratch, arguments.runs))
            )
            report(f"process pool, {workers} worker(s)", arguments.tracks, seconds)
        for nodes in (1, 2):
            with running_cluster(nodes=nodes) as cluster:
                make = ray_service(spec, cluster.address, nodes)
                seconds = statistics.median(
                    asyncio.run(imports(make, folder, scratch, arguments.runs))
                )
            report(f"Ray, {nodes} node(s) × 1 actor", arguments.tracks, seconds)


def report(what: str, tracks: int, seconds: float) -> None:
    print(
        f"   {what:32s} {tracks / seconds:5.2f} tracks/s  ({3600 * tracks / seconds:,.0f} "
        f"tracks/hour)   load {load()}"
    )


if __name__ == "__main__":
    main()
