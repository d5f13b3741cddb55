"""The Ray backend on this machine against the local process pool, with the default model.

    .venv/bin/python bench/ray_speed.py [--tracks 12] [--runs 3] [--model msd-vgg/pool5]

Needs the optional `ray` (requirements-ray.txt). Starts real Ray clusters on this machine with
the tests' helper (tests/support/ray_cluster.py: token auth, one CPU per node) and prints, with the
cores and load average:

1. per-track overhead: one track at a time (so each waits for nothing but itself), through two
   Ray actors (a two-node cluster) and two local worker processes (both one TensorFlow thread
   per worker), the two alternated track by track so that a busy machine slows both alike:
   the median seconds per track of each and their difference; and the Ray path's own cost
   without the model: reading a track, `ray.put` of its bytes and a call to an actor that only
   takes them;
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
sys.path.insert(1, str(ROOT / "tests" / "support"))

from ray_cluster import running_cluster  # noqa: E402  (sets Ray's token before ray is imported)

from bench.embedding_speed import make_track  # noqa: E402
from catalog.importer import Importer  # noqa: E402
from core.embedding_service import Embedder, EmbeddingService  # noqa: E402
from core.models import DEFAULT_MODEL, ModelSpec, parse_model_spec  # noqa: E402
from core.ray_embedding import RayEmbeddingService  # noqa: E402
from storage import Database  # noqa: E402

Factory = Callable[[], Embedder]


def load() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


async def per_track(
    makers: list[Factory], tracks: list[Path], runs: int
) -> tuple[list[list[float]], list[float]]:
    """Seconds per track for each service, one track at a time, the services alternated,
    `runs` passes over `tracks` (warm services); and the bare Ray round trips of the same bytes.
    """
    import ray

    @ray.remote(num_cpus=0)
    class Taker:
        def take(self, data: bytes) -> int:
            return len(data)

    services = [make() for make in makers]
    taker = Taker.remote()  # type: ignore[attr-defined]
    for service in services:
        await service.start()
    try:
        for service in services:
            await service.embed(tracks[0])  # the first call's one-off costs
        await taker.take.remote(b"")
        times: list[list[float]] = [[] for _ in services]
        bare = []
        for _ in range(runs):
            for track in tracks:
                for service, spent in zip(services, times, strict=True):
                    started = time.perf_counter()
                    await service.embed(track)
                    spent.append(time.perf_counter() - started)
                started = time.perf_counter()
                data = await asyncio.to_thread(track.read_bytes)
                await taker.take.remote(ray.put(data))
                bare.append(time.perf_counter() - started)
    finally:
        for service in services:
            await service.close()
        ray.kill(taker)
    return times, bare


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
    parser.add_argument("--skip-import", action="store_true", help="part 1 only")
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
        size = statistics.median(track.stat().st_size for track in sample) / 1e6
        with running_cluster(nodes=2) as cluster:
            makers = [pool(spec, 2), ray_service(spec, cluster.address, 2)]
            (on_pool, on_ray), bare = asyncio.run(per_track(makers, sample, arguments.runs))
        local, remote = statistics.median(on_pool), statistics.median(on_ray)
        print(f"   process pool {local:.3f} s/track   Ray {remote:.3f} s/track   "
              f"difference {remote - local:+.3f} s ({(remote / local - 1) * 100:+.0f} %)   "
              f"load {load()}")  # fmt: skip
        print(f"   the Ray path alone (read + ray.put + call, {size:.1f} MB): "
              f"{statistics.median(bare) * 1000:.1f} ms per track")  # fmt: skip
        if arguments.skip_import:
            return

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
