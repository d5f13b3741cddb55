"""Yandex import throughput: `import-yandex` against the stand-in API beside `import` of the same
files, tracks per second into a fresh catalog.

    .venv/bin/python bench/yandex_import_speed.py [--tracks 12] [--runs 3] [--workers N]

Generates four-minute 192 kbps stereo mp3s (bench/embedding_speed.make_track), serves them from
tests/support/fake_yandex.py (the real library, download-info → XML → signed link over TLS, on
127.0.0.1: no network latency, so this measures our overhead and the overlap, not a real
connection), and imports one album link with the real YandexImport: downloads (three at once)
overlapped with embedding. The same files are then imported from a folder with the plain
Importer. The worker pool is started once per mode and excluded (it is paid once per import).
Also prints the downloads alone, to show how much of them the overlap hides.
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "support")]

from fake_yandex import FakeYandex  # noqa: E402

from bench.embedding_speed import make_track  # noqa: E402
from catalog.importer import Importer  # noqa: E402
from catalog.yandex.client import YandexMusic, YandexTrack  # noqa: E402
from catalog.yandex.importer import YandexImport  # noqa: E402
from catalog.yandex.links import parse_link  # noqa: E402
from core.embedding_service import FETCHES_AT_ONCE, EmbeddingService  # noqa: E402
from core.fetching import stream  # noqa: E402
from core.models import DEFAULT_MODEL, parse_model_spec  # noqa: E402
from storage import Database  # noqa: E402


async def yandex_once(
    service: EmbeddingService, music: YandexMusic, link: str, scratch: Path
) -> int:
    async with Database(scratch / "yandex.sqlite3") as database:
        job = YandexImport(database, service, music, scratch)
        summary = await job.run(await job.collect([parse_link(link)]))
    return summary.added


async def files_once(service: EmbeddingService, folder: Path, scratch: Path) -> int:
    async with Database(scratch / "files.sqlite3") as database:
        summary = await Importer(database, service).run([folder])
    return summary.added


async def downloads_once(music: YandexMusic, link: str, scratch: Path) -> int:
    """The downloads alone, as the local pool streams them (FETCHES_AT_ONCE at a time)."""
    tracks = await music.tracks_for(parse_link(link))
    slots = asyncio.Semaphore(FETCHES_AT_ONCE)

    async def one(track: YandexTrack) -> None:
        async with slots:
            url = await music.direct_link(track)
            await stream(url, scratch / f"{track.track_id}.mp3", music.limits, music.ca_pem)

    await asyncio.gather(*(one(track) for track in tracks))
    return len(tracks)


async def measure(
    folder: Path, fake: FakeYandex, link: str, runs: int, workers: int | None
) -> None:
    count = len(list(folder.iterdir()))
    music = YandexMusic(fake.token, fake.api_url)
    times: dict[str, list[float]] = {"import-yandex": [], "import": [], "downloads alone": []}
    async with EmbeddingService(parse_model_spec(DEFAULT_MODEL), workers=workers) as service:
        print(f"  {service.workers} worker(s), {service.model_id}")
        for run in range(runs):
            modes = {
                "import-yandex": lambda scratch: yandex_once(service, music, link, scratch),
                "import": lambda scratch: files_once(service, folder, scratch),
                "downloads alone": lambda scratch: downloads_once(music, link, scratch),
            }
            order = list(modes) if run % 2 == 0 else ["import", "import-yandex", "downloads alone"]
            for name in order:  # alternated, so that neither always runs on a warmer machine
                with tempfile.TemporaryDirectory() as scratch:
                    started = time.perf_counter()
                    done = await modes[name](Path(scratch))
                    times[name].append(time.perf_counter() - started)
                if done != count:
                    raise RuntimeError(f"{name}: {done} of {count} tracks")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(
            f"  {name:16s} {count / median:5.2f} tracks/s  ({median / count:.2f} s per track, "
            f"median of {runs})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=12)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None, help="default: one per core")
    arguments = parser.parse_args()
    print(f"cores: {os.cpu_count()}   {arguments.tracks} four-minute 192 kbps mp3s")
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "music"
        folder.mkdir()
        files = [make_track(folder / f"{i:03d}.mp3", variant=i) for i in range(arguments.tracks)]
        with FakeYandex(Path(scratch)) as fake:
            os.environ["SSL_CERT_FILE"] = str(fake.ca_file)
            album_id, _ = fake.add_album(
                "Bench", "Bench Band", [f.read_bytes() for f in files], duration_ms=240_000
            )
            link = f"https://music.yandex.ru/album/{album_id}"
            asyncio.run(measure(folder, fake, link, arguments.runs, arguments.workers))


if __name__ == "__main__":
    main()
