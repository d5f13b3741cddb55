"""The same bot and commands on a real two-node Ray cluster (tests/support/ray_cluster.py,
one per module): `import` committing as it goes and resuming after kill -9, a node killed
mid-import losing nothing, `import-yandex` with the actors downloading, and the bot answering
through the fake Bot API, through a lost node, and plainly when no worker is left.

The cheap `mfcc` model keeps actor start-up to a second. Tests that start their own services
come first: the bot, started last, holds both CPUs until the module ends. Skipped without the
optional `ray` (requirements-ray.txt)."""

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from audio_factory import encode, make_library, reencode_excerpt, style_for, synth_music
from bot_harness import allow, resources_of, running, send_track, settings_for
from cli_process import run_bot
from fake_telegram import Call, FakeTelegram, FakeUser
from fake_yandex import FakeYandex
from ray_cluster import RayCluster, running_cluster  # sets Ray's token before ray is imported

pytest.importorskip("ray", reason="the optional Ray backend: pip install -r requirements-ray.txt")

from bot.context import BotApplication
from catalog.importer import Importer
from catalog.reindex import Reindexer
from catalog.yandex.client import YandexMusic
from catalog.yandex.importer import YandexImport
from catalog.yandex.links import parse_links
from core.models import parse_model_spec
from core.ray_embedding import RayEmbeddingService
from storage import Database

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROOT = Path(__file__).resolve().parents[2]
MFCC = parse_model_spec("mfcc")


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    with running_cluster() as started:
        yield started


def ray_env(cluster: RayCluster) -> dict[str, str]:
    return {"RAY_ADDRESS": cluster.address, "MODEL": "mfcc", "WORKERS": "2"}


def committed(database: Path) -> int:
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(database, timeout=5) as db:
            return int(db.execute("SELECT count(*) FROM embeddings").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # the schema is still being created


async def test_import_through_ray_commits_as_it_goes_and_resumes_after_kill_9(
    cluster: RayCluster, tmp_path: Path
) -> None:
    music = tmp_path / "music"
    make_library(music, 10, seconds=20.0)
    (music / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0 not music")
    database = tmp_path / "catalog.sqlite3"
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "import", str(music)],
        cwd=ROOT,
        env={**os.environ, "DATABASE_PATH": str(database), **ray_env(cluster)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while committed(database) < 2 and time.monotonic() < deadline and process.poll() is None:
        await asyncio.sleep(0.1)
    process.kill()  # kill -9: no clean-up of any kind
    _, stderr = process.communicate(timeout=60)
    assert "with mfcc-stats@fe1, 2 Ray actor(s)" in stderr
    kept = committed(database)
    assert 2 <= kept < 10, stderr

    rerun = run_bot("import", str(music), database=database, env=ray_env(cluster))
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.splitlines()[0] == (
        f"added {10 - kept} · already present {kept} · metadata updated 0 · failed 0"
        " · skipped 1 non-audio file(s)"
    )
    assert committed(database) == 10
    assert "Traceback" not in rerun.stderr


async def test_import_through_ray_client_from_a_machine_without_ray_node(
    cluster: RayCluster, tmp_path: Path
) -> None:
    """RAY_ADDRESS=ray://HOST:PORT: the bot's machine runs no Ray node (as in the compose file);
    the audio goes to the cluster through the Ray Client connection."""
    music = tmp_path / "music"
    make_library(music, 4, seconds=10.0)
    env = {**ray_env(cluster), "RAY_ADDRESS": f"ray://127.0.0.1:{cluster.client_port}"}
    done = run_bot("import", str(music), database=tmp_path / "c.sqlite3", env=env)
    assert done.returncode == 0, done.stderr + cluster.logs("ray_client_server*")
    assert done.stdout.splitlines()[0].startswith("added 4 · already present 0")
    assert "2 Ray actor(s)" in done.stderr


async def test_a_driver_started_under_uv_run_leaves_the_cluster_its_own_python(
    cluster: RayCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ray reads its driver's parent processes: under `uv run` it would make the cluster start its
    Ray Client server and workers through uv, and the server dies at once (what broke CI). The
    driver here is the child of a process whose command line is `uv run …`."""
    monkeypatch.delenv("RAY_ENABLE_UV_RUN_RUNTIME_ENV")  # the bot must set it itself
    launcher = tmp_path / "bin" / "run"  # bash finds the script `run` on PATH
    launcher.parent.mkdir()
    launcher.write_text('"$@"\nexit $?\n')
    music = tmp_path / "music"
    make_library(music, 2, seconds=10.0)
    env = {
        **ray_env(cluster),
        "RAY_ADDRESS": f"ray://127.0.0.1:{cluster.client_port}",
        "PATH": f"{launcher.parent}{os.pathsep}{os.environ['PATH']}",
    }
    under_uv = ("bash", "-c", 'exec -a uv bash run "$@"', "uv")
    done = run_bot("import", str(music), database=tmp_path / "c.sqlite3", env=env, prefix=under_uv)
    assert done.returncode == 0, done.stderr + cluster.logs("ray_client_server_*.err")
    assert done.stdout.splitlines()[0].startswith("added 2 · already present 0")


async def test_the_cluster_refuses_a_wrong_token_in_one_line(
    cluster: RayCluster, tmp_path: Path
) -> None:
    """Token authentication is on: a driver without the cluster's token cannot join it."""
    wrong = "0" * 64
    done = run_bot(
        "import",
        str(tmp_path),
        database=tmp_path / "c.sqlite3",
        env={**ray_env(cluster), "RAY_AUTH_TOKEN": wrong},
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: cannot connect to the Ray cluster at RAY_ADDRESS=")
    assert (
        done.stderr.count("\n") == 1
        and wrong not in done.stderr
        and cluster.token not in done.stderr
    )


async def test_a_node_killed_mid_import_loses_nothing(cluster: RayCluster, tmp_path: Path) -> None:
    library = make_library(tmp_path / "music", 16, seconds=20.0)
    node2 = cluster.node_id("node2")
    try:
        async with (
            Database(tmp_path / "catalog.sqlite3") as database,
            RayEmbeddingService(MFCC, workers=2, address=cluster.address) as service,
        ):
            assert service.actors_on(node2) == 1
            importer = Importer(database, service)
            job = asyncio.create_task(importer.run(library))
            async with asyncio.timeout(60):
                while importer.summary.added < 2:
                    await asyncio.sleep(0.05)
            cluster.kill_node("node2")  # mid-import: tracks are queued on its actor
            summary = await asyncio.wait_for(job, 120)
            assert summary.lines() == [
                "added 16 · already present 0 · metadata updated 0 · failed 0"
            ]
            assert service.lost == 1 and service.actors_on(node2) == 0
            assert len(await database.embeddings.load_catalog(MFCC.model_id)) == 16
    finally:
        cluster.start_node("node2")  # the next tests use both nodes again


@pytest.fixture
def fake_yandex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeYandex]:
    with FakeYandex(tmp_path) as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))
        yield server


def mp3(seed: int, folder: Path) -> bytes:
    return encode(
        synth_music(6.0, seed=seed, **style_for(seed)), folder / f"{seed}.mp3"
    ).read_bytes()


async def test_import_yandex_on_ray_lets_the_actors_download(
    cluster: RayCluster, fake_yandex: FakeYandex, tmp_path: Path
) -> None:
    audio = [mp3(seed, tmp_path) for seed in range(3)]
    album_id, tracks = fake_yandex.add_album("Album", "Band", audio)
    fake_yandex.expire_first_link(tracks[1])  # the actor's first fetch gets 410: a fresh link
    music = YandexMusic(fake_yandex.token, fake_yandex.api_url, backoff=0.01)
    unused = tmp_path / "unused"  # where the local pool would stream: never created on Ray
    async with (
        Database(tmp_path / "catalog.sqlite3") as database,
        RayEmbeddingService(MFCC, workers=2, address=cluster.address) as service,
    ):
        job = YandexImport(database, service, music, unused)
        await job.run(await job.collect(parse_links([f"https://music.yandex.ru/album/{album_id}"])))
        assert job.summary.lines() == [
            "added 3 · already present 0 · metadata updated 0 · failed 0"
        ]
        for track_id, data in zip(tracks, audio, strict=True):
            track = await database.tracks.find_by_yandex_id(track_id)
            assert track is not None and track.album == "Album" and track.artist == "Band"
            assert track.sha256 == sha256_of_bytes(data)  # of what the actor fetched
            assert await database.embeddings.has(track.id, MFCC.model_id)
        assert fake_yandex.downloads[tracks[1]] == 1
        assert len([c for c in fake_yandex.calls("download-info") if c.track_id == tracks[1]]) == 2

        rerun = YandexImport(database, service, music, unused)
        await rerun.run(
            await rerun.collect(parse_links([f"https://music.yandex.ru/album/{album_id}"]))
        )
        assert rerun.summary.present == 3  # resumable: known ids cost no download

        # reindex fetches a Yandex track the same one way: on Ray, the actors download it
        with sqlite3.connect(tmp_path / "catalog.sqlite3") as db:
            db.execute("DELETE FROM embeddings WHERE track_id IN (SELECT id FROM tracks)")
        reindexer = Reindexer(database, MFCC.model_id, music, unused)
        summary = await reindexer.run(await reindexer.missing(), service)
        assert summary.lines() == [
            "embedded 3 · already had the model 0 · audio unreachable 0 · failed 0 · "
            "downloaded from Yandex Music 3"
        ]
        assert fake_yandex.downloads[tracks[0]] == 2
    assert not unused.exists()  # the coordinator wrote no audio: the actors fetched it


def sha256_of_bytes(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


async def test_keep_is_refused_on_ray(cluster: RayCluster, tmp_path: Path) -> None:
    done = run_bot(
        "import-yandex",
        "https://music.yandex.ru/album/1",
        "--keep",
        str(tmp_path / "kept"),
        database=tmp_path / "c.sqlite3",
        env=ray_env(cluster),
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: --keep needs the local workers")


# --- the bot, through Ray ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_library(tmp_path_factory.mktemp("library"), 8, seconds=12.0)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(
    cluster: RayCluster,
    fake: FakeTelegram,
    library: list[Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[BotApplication]:
    database = tmp_path_factory.mktemp("db") / "bot.sqlite3"
    settings = settings_for(fake, database, model=MFCC, workers=2, ray_address=cluster.address)
    async with running(settings) as application:
        resources = resources_of(application)
        assert isinstance(resources.recommender.embedder, RayEmbeddingService)
        summary = await Importer(resources.database, resources.recommender.embedder).run(library)
        assert summary.added == len(library), summary.lines()
        yield application


def edited_to(chat_id: int, fragment: str) -> Callable[[Call], bool]:
    return lambda call: (
        call.ok
        and call.method == "editMessageText"
        and call.params["chat_id"] == chat_id
        and fragment in call.params["text"]
    )


async def ask(fake: FakeTelegram, user: FakeUser, track: Path, file_id: str, expect: str) -> str:
    mark = fake.mark()
    await send_track(fake, user, track, file_id)
    calls = await fake.wait_for_async(edited_to(user.id, expect), since=mark, timeout=90)
    return str(calls[-1].params["text"])


async def test_the_bot_answers_through_ray_and_through_a_lost_node(
    bot: BotApplication,
    fake: FakeTelegram,
    library: list[Path],
    cluster: RayCluster,
    tmp_path: Path,
) -> None:
    user = FakeUser(3001, "Vera", language_code="en")
    await allow(bot, user)
    excerpt = reencode_excerpt(library[3], tmp_path / "phone.mp3", start=2.0, seconds=8.0)
    text = await ask(fake, user, excerpt, "ray-1", "Sounds like")
    assert "Artist 3 — Song 3" in text

    embedder = resources_of(bot).recommender.embedder
    assert isinstance(embedder, RayEmbeddingService)
    assert embedder.actors_on(cluster.node_id("node2")) == 1
    cluster.kill_node("node2")
    for n in range(3):  # whichever actor a track meets, it is answered
        text = await ask(fake, user, library[n], f"ray-lost-{n}", "Sounds like")
        assert f"Artist {n} — Song {n}" in text


async def test_no_worker_left_is_said_plainly_and_the_bot_recovers(
    bot: BotApplication, fake: FakeTelegram, library: list[Path]
) -> None:
    user = FakeUser(3002, "Gleb", language_code="ru")
    await allow(bot, user)
    embedder = resources_of(bot).recommender.embedder
    assert isinstance(embedder, RayEmbeddingService)
    embedder.replacement_wait = 0.2  # shorter than an actor's start-up
    for pid in embedder.worker_pids():
        os.kill(pid, signal.SIGKILL)
    await ask(fake, user, library[4], "ray-none", "Сервис анализа сейчас недоступен")

    async with asyncio.timeout(60):  # a replacement takes the free CPU
        while not embedder.worker_pids():
            await asyncio.sleep(0.1)
    embedder.replacement_wait = 30.0
    text = await ask(fake, user, library[5], "ray-back", "Похоже на")
    assert "Artist 5 — Song 5" in text
