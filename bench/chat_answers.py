"""Message-to-answer times of the chat's new doors (issue 18): a Yandex Music link to a catalog
track, a link to a new 4-minute track, and `/similar N`.

    .venv/bin/python bench/chat_answers.py [--catalog 10000] [--real 12] [--runs 7]

The real bot Application with the default model (or --model) runs against the fake Bot API and
the Yandex Music stand-in of tests/support (real HTTP on 127.0.0.1, TLS downloads), in this
process. The catalog holds `--real` tracks imported from audio (with Yandex ids: the ones links
name) and synthetic vectors of the model up to `--catalog` tracks (drawn from the model's prior
statistics, stored through storage's API). Each figure is the time from the update being handed
to the fake server to the answer's edit arriving there (getUpdates, the work, the edit), median
of `--runs`; `server` is what the bot itself records for the answer (queries.elapsed: ranking,
and for a new track its embedding, after the download). Prints one JSON line per case.
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "support")]


async def fill(database: object, model_id: str, count: int, seed: int = 7) -> None:
    """`count` synthetic tracks with vectors drawn from the model's prior statistics."""
    from core.standardise import load_prior
    from storage import Database

    assert isinstance(database, Database)
    prior = load_prior(model_id)
    rng = np.random.default_rng(seed)
    for n in range(count):
        if prior is not None:
            vector = prior.mean + prior.std * rng.standard_normal(prior.mean.shape[0])
        else:
            vector = rng.standard_normal(256)
        track = await database.tracks.add(f"{n:064x}", f"Synthetic {n}", artist=f"Band {n % 997}")
        await database.embeddings.put(track, model_id, vector.astype(np.float32))


async def measure(args: argparse.Namespace, folder: Path) -> list[dict[str, object]]:
    from audio_factory import encode, make_library, style_for, synth_music
    from bot_harness import allow, resources_of, running, settings_for, to
    from fake_telegram import FakeTelegram, FakeUser
    from fake_yandex import FakeYandex

    from bot.config import YandexSettings
    from catalog.importer import Importer
    from catalog.metadata import MetadataTable, TrackMetadata
    from core.models import parse_model_spec

    user = FakeUser(4242, "Bench")
    results: list[dict[str, object]] = []
    with FakeTelegram() as fake, FakeYandex(folder) as ym:
        os.environ["SSL_CERT_FILE"] = str(ym.ca_file)
        library = make_library(folder / "library", args.real, seconds=30.0)
        ids = [
            ym.add_album(f"Album {i}", f"Artist {i}", [p.read_bytes()])
            for i, p in enumerate(library)
        ]
        rows = {
            path.resolve(): TrackMetadata(
                title=f"Album {i} 1",
                artist=f"Artist {i}",
                yandex_track_id=ids[i][1][0],
                yandex_album_id=ids[i][0],
            )
            for i, path in enumerate(library)
        }
        new_audio = synth_music(args.new_seconds, seed=99, **style_for(99))
        new_id = ym.add_track(
            "Four Minutes",
            "New Band",
            encode(new_audio, folder / "new.mp3", channels=2).read_bytes(),
        )
        settings = settings_for(
            fake,
            folder / "bench.sqlite3",
            model=parse_model_spec(args.model),
            workers=None,
            yandex=YandexSettings(ym.token, ym.api_url),
        )
        async with running(settings) as application:
            resources = resources_of(application)
            summary = await Importer(
                resources.database, resources.recommender.embedder, MetadataTable(rows, [])
            ).run(library)
            assert summary.added == args.real, summary.lines()
            model_id = resources.recommender.model.model_id
            await fill(resources.database, model_id, max(0, args.catalog - args.real))
            await allow(application, user)
            tracks = len(await resources.recommender.ranker.catalog.get())

            async def timed(text: str, fragment: str) -> tuple[float, float]:
                mark = fake.mark()
                started = time.perf_counter()
                fake.push_update(fake.text_message(user, text))
                await fake.wait_for_async(
                    to(user.id, "editMessageText", fragment), since=mark, timeout=300
                )
                seconds = time.perf_counter() - started
                query = await resources.database.queries.latest_for_user(user.id)
                assert query is not None
                return seconds, query.elapsed

            cases = {
                "link to a catalog track": lambda run: (
                    f"https://music.yandex.ru/album/{ids[run % args.real][0]}/track/"
                    f"{ids[run % args.real][1][0]}?utm_medium=copy_link",
                    "Sounds like",
                ),
                "/similar 3": lambda run: ("/similar 3", "Tracks like:"),
                f"link to a new {args.new_seconds / 60:g}-minute track": lambda run: (
                    f"https://music.yandex.ru/track/{new_id}",
                    "Sounds like New Band",
                ),
            }
            await timed(*cases["link to a catalog track"](0))  # warm: caches, first page
            for case, make in cases.items():
                timings = [await timed(*make(run)) for run in range(args.runs)]
                results.append(
                    {
                        "case": case,
                        "model": model_id,
                        "tracks": tracks,
                        "runs": args.runs,
                        "message_to_answer_ms_median": round(
                            1000 * statistics.median(t for t, _ in timings), 1
                        ),
                        "message_to_answer_ms_max": round(1000 * max(t for t, _ in timings), 1),
                        "server_ms_median": round(
                            1000 * statistics.median(s for _, s in timings), 1
                        ),
                        "cores": os.cpu_count(),
                    }
                )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalog", type=int, default=10_000, help="tracks in the catalog")
    parser.add_argument("--real", type=int, default=12, help="of them imported from audio")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--new-seconds", type=float, default=240.0, help="the new track's length")
    parser.add_argument("--model", default="fusion:aisfx+msd-vgg")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for result in asyncio.run(measure(args, Path(folder))):
            print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
