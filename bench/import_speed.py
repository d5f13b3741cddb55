"""Indexing throughput: tracks per second into a fresh catalog, with 1 and 2 workers.

    .venv/bin/python bench/import_speed.py [--tracks 16] [--runs 3]

Generates a folder of 4-minute 192 kbps stereo mp3s (each a different tone and tempo, so no
two files are identical), then imports it into a new SQLite file with the real Importer and
embedding workers. Worker start-up (model loading) is excluded: it is paid once per import.
Prints the median tracks/s per worker count and the peak RSS of the main and worker processes.
"""

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.embedding_speed import make_track
from catalog.importer import Importer
from core.embedding_service import EmbeddingService
from core.models import DEFAULT_MODEL, parse_model_spec
from storage import Database


async def import_once(folder: Path, database_path: Path, workers: int) -> float:
    """Seconds to import `folder` into a new catalog, workers already warm."""
    async with (
        Database(database_path) as database,
        EmbeddingService(parse_model_spec(DEFAULT_MODEL), workers=workers) as service,
    ):
        started = time.perf_counter()
        summary = await Importer(database, service).run([folder])
        seconds = time.perf_counter() - started
    if summary.failures or summary.present:
        raise RuntimeError(f"unexpected import result: {summary.lines()}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    print(f"cores: {os.cpu_count()}   {arguments.tracks} four-minute mp3s, medians of "
          f"{arguments.runs} runs")  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "music"
        folder.mkdir()
        for i in range(arguments.tracks):
            make_track(folder / f"track {i:03d}.mp3", variant=i)
        for workers in (1, 2):
            times = [
                asyncio.run(import_once(folder, Path(scratch) / f"{workers}-{run}.db", workers))
                for run in range(arguments.runs)
            ]
            seconds = statistics.median(times)
            print(
                f"  {workers} worker(s): {arguments.tracks / seconds:5.2f} tracks/s "
                f"({seconds / arguments.tracks:.2f} s per track, "
                f"{3600 * arguments.tracks / seconds:,.0f} tracks/hour)"
            )
    main_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"  peak RSS: main process {main_rss:.0f} MB, largest worker {worker_rss:.0f} MB")


if __name__ == "__main__":
    main()
