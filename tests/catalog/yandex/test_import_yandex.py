"""`import-yandex` against the stand-in Yandex Music API: the real library, real mp3 bytes over
TLS, the real worker pool (one worker, started once for the module) and real SQLite files."""

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from audio_factory import encode, style_for, synth_music
from fake_yandex import FakeYandex

from bot.cli import main as cli
from catalog.links import track_url
from catalog.yandex import client as yandex_client
from catalog.yandex.client import YandexMusic
from catalog.yandex.importer import YandexImport
from catalog.yandex.links import LikedTracks, Target, parse_links
from core.embedding_service import EmbeddingService
from core.models import parse_model_spec
from storage import Database

ROOT = Path(__file__).resolve().parents[3]
UUID = "lk.8a5f0b7e-3f4c-4d2a-9b1e-2c3d4e5f6a7b"
YM = "https://music.yandex.ru"
in_module_loop = pytest.mark.asyncio(loop_scope="module")
_MP3: dict[int, bytes] = {}


def mp3(seed: int, seconds: float = 5.0) -> bytes:
    """A distinct short track (cached: ffmpeg runs once per seed)."""
    if seed not in _MP3:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "t.mp3"
            encode(synth_music(seconds, seed=seed, **style_for(seed)), path, channels=2)
            _MP3[seed] = path.read_bytes()
    return _MP3[seed]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service() -> AsyncIterator[EmbeddingService]:
    async with EmbeddingService(parse_model_spec("msd-vgg/pool5"), workers=1) as started:
        yield started


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeYandex]:
    with FakeYandex(tmp_path) as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))
        yield server


def music_for(fake: FakeYandex, **options: float) -> YandexMusic:
    return YandexMusic(fake.token, fake.api_url, backoff=0.01, **options)  # type: ignore[arg-type]


async def run_import(
    database: Database,
    service: EmbeddingService,
    music: YandexMusic,
    targets: list[Target],
    folder: Path,
    **options: object,
) -> YandexImport:
    job = YandexImport(database, service, music, folder, **options)  # type: ignore[arg-type]
    await job.run(await job.collect(targets))
    return job


@in_module_loop
async def test_every_link_kind_builds_a_catalog_that_links_to_the_exact_tracks(
    fake: FakeYandex, service: EmbeddingService, tmp_path: Path
) -> None:
    album_id, album = fake.add_album("Album", "Band", [mp3(0), mp3(1)])
    single = fake.add_track(
        "Song", ["Band", "Guest"], mp3(2), version="Remix", duration_ms=5000, album_title="Hits"
    )
    listed = fake.add_track("Listed", "Other", mp3(3))
    modern = fake.add_track("New style", "Other", mp3(4))
    hit = fake.add_track("Hit", "Star", mp3(5))
    loved = fake.add_track("Loved", "Star", mp3(6))
    fake.add_user_playlist("ann", 3, [listed])
    fake.add_playlist(UUID, [modern])
    fake.set_chart([hit, album[0]])
    fake.set_likes([loved])
    links = [
        f"{YM}/album/{album_id}",
        f"https://music.yandex.com/album/{album_id}/track/{album[1]}",
        f"{YM}/track/{single}",
        f"{YM}/artist/{fake.artist_id('Other')}",
        f"{YM}/users/ann/playlists/3",
        f"{YM}/playlists/{UUID}",
        f"{YM}/chart",
    ]
    targets = [*parse_links(links), LikedTracks()]
    music = music_for(fake)
    expected = [
        [*album],
        [album[1]],
        [single],
        [listed, modern],
        [listed],
        [modern],
        [hit, album[0]],
    ]
    for target, ids in zip(targets, [*expected, [loved]], strict=True):
        assert [t.track_id for t in await music.tracks_for(target)] == ids, target

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    async with Database(tmp_path / "catalog.sqlite3") as database:
        job = await run_import(database, service, music, targets, downloads)
        assert job.summary.lines() == [
            "added 7 · already present 0 · metadata updated 0 · failed 0"
        ]
        song = await database.tracks.find_by_yandex_id(single)
        assert song is not None
        assert (song.title, song.artist, song.album, song.duration) == (
            "Song (Remix)",
            "Band, Guest",
            "Hits",
            5.0,
        )
        album_id_of_single = fake._state.tracks[single].album_id
        exact = f"{YM}/album/{album_id_of_single}/track/{single}"
        assert track_url(song) == exact and song.source_path == exact
        for track in await database.tracks.list():
            assert track.yandex_track_id and track.yandex_album_id
            assert track_url(track).endswith(f"/track/{track.yandex_track_id}")
            assert await database.embeddings.has(track.id, service.model_id)
    assert fake.bitrates == {128: 7}  # the smallest that loses nothing the model hears
    assert list(downloads.iterdir()) == []  # audio deleted once embedded


@in_module_loop
async def test_a_rerun_downloads_nothing_it_already_has(
    fake: FakeYandex, service: EmbeddingService, tmp_path: Path
) -> None:
    album_id, ids = fake.add_album("Album", "Band", [mp3(0), mp3(1), mp3(2)])
    targets = parse_links([f"{YM}/album/{album_id}"])
    async with Database(tmp_path / "catalog.sqlite3") as database:
        first = await run_import(database, service, music_for(fake), targets, tmp_path)
        assert first.summary.added == 3
        before = (dict(fake.downloads), len(fake.calls("download-info")))
        again = await run_import(database, service, music_for(fake), targets, tmp_path)
    assert again.summary.lines()[0].startswith("added 0 · already present 3")
    assert (dict(fake.downloads), len(fake.calls("download-info"))) == before
    assert set(before[0]) == set(ids)


@in_module_loop
async def test_bad_tracks_are_reported_and_never_stop_the_import(
    fake: FakeYandex, service: EmbeddingService, tmp_path: Path
) -> None:
    fine = fake.add_track("Fine", "A", mp3(7))
    blocked = fake.add_track("Blocked", "A", mp3(8), available=False)
    removed = fake.add_track("Removed", "A", b"", error="not-found")
    preview = fake.add_track("Preview", "A", mp3(9), preview_only=True)
    busy = fake.add_track("Busy", "A", mp3(10))
    broken = fake.add_track("Broken", "A", mp3(11))
    stale = fake.add_track("Stale", "A", mp3(12))
    slow = fake.add_track("Slow", "A", mp3(13))
    garbage = fake.add_track("Garbage", "A", b"this is not audio" * 500)
    everything = [fine, blocked, removed, preview, busy, broken, stale, slow, garbage]
    fake.add_user_playlist("ann", 7, everything)
    fake.fail("download-info", 429, times=1, track_id=busy)  # then it answers
    fake.fail("mp3", 500, times=99, track_id=broken)  # until the retries run out
    fake.expire_first_link(stale)  # the first link is dead; a retry must fetch a fresh one
    fake.stall("download-info", 2.0, track_id=slow)  # one timeout, then it answers
    keep = tmp_path / "keep"
    keep.mkdir()
    music = music_for(fake, timeout=0.5, attempts=3)

    async with Database(tmp_path / "catalog.sqlite3") as database:
        job = await run_import(
            database, service, music, parse_links([f"{YM}/users/ann/playlists/7"]), tmp_path,
            keep=keep,
        )  # fmt: skip
        titles = sorted(t.title for t in await database.tracks.list())
    summary = job.summary
    assert (summary.added, summary.present, len(summary.unavailable)) == (4, 0, 3)
    assert titles == ["Busy", "Fine", "Slow", "Stale"]
    unavailable = dict(summary.unavailable)
    assert unavailable[f"A — Blocked ({YM}/album/{album_of(fake, blocked)}/track/{blocked})"] == (
        "not available (region or rights)"
    )
    assert "removed (not-found)" in unavailable.values()
    assert any("preview" in why for why in unavailable.values())
    failures = {str(name).split(" (")[0]: why for name, why in summary.failures}
    assert failures["A — Broken"] == (
        f"download of track {broken}: HTTP 500 (gave up after 3 attempts)"
    )
    assert set(failures) == {"A — Broken", "A — Garbage"}
    assert fake.downloads[busy] == fake.downloads[stale] == fake.downloads[slow] == 1
    assert len([c for c in fake.calls("download-info") if c.track_id == stale]) == 2
    assert len([c for c in fake.calls("download-info") if c.track_id == blocked]) == 0
    assert (keep / f"{fine}.mp3").read_bytes() == mp3(7)
    assert "unavailable 3" in summary.lines()[0]


def album_of(fake: FakeYandex, track_id: str) -> int:
    return fake._state.tracks[track_id].album_id


@in_module_loop
async def test_artist_links_page_through_every_track_with_all(
    fake: FakeYandex, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = [fake.add_track(f"Song {n}", "Prolific", b"-") for n in range(25)]
    artist = parse_links([f"{YM}/artist/{fake.artist_id('Prolific')}"])[0]
    monkeypatch.setattr(yandex_client, "ARTIST_PAGE", 10)
    music = music_for(fake)
    popular = await music.tracks_for(artist)
    assert [t.track_id for t in popular] == ids[: yandex_client.POPULAR_TRACKS]
    everything = await music.tracks_for(artist, all_artist_tracks=True)
    assert [t.track_id for t in everything] == ids
    pages = [(c.query["page"], c.query["page-size"]) for c in fake.calls("artist")]
    assert pages[1:] == [(["0"], ["10"]), (["1"], ["10"]), (["2"], ["10"])]
    limited = await music.tracks_for(artist, all_artist_tracks=True, limit=12)
    assert len(limited) == 20 and len(fake.calls("artist")) == 6  # stops paging at the limit


@in_module_loop
async def test_a_link_that_cannot_be_listed_is_a_failure_and_the_others_still_count(
    fake: FakeYandex, service: EmbeddingService, tmp_path: Path
) -> None:
    album_id, ids = fake.add_album("Album", "Band", [b"-"])
    fake.fail("chart", 503, times=99)
    links = [f"{YM}/album/999", f"{YM}/chart", f"{YM}/album/{album_id}", f"{YM}/track/998"]
    async with Database(tmp_path / "catalog.sqlite3") as database:
        job = YandexImport(database, service, music_for(fake, attempts=2), tmp_path)
        tracks = await job.collect(parse_links(links))
    assert [t.track_id for t in tracks] == ids
    assert job.summary.failures == [
        ("album 999", "not found"),
        ("chart", "HTTP 503 (gave up after 2 attempts)"),
        ("track 998", "not found"),
    ]


def test_settings_default_to_the_real_api_and_never_show_the_token() -> None:
    from bot.config import load_yandex_settings

    settings = load_yandex_settings({"YANDEX_MUSIC_TOKEN": " y0_SECRET "})
    assert settings.token == "y0_SECRET" and settings.api_url == "https://api.music.yandex.net"
    assert "y0_SECRET" not in repr(settings) and "y0_SECRET" not in str(settings)
    other = load_yandex_settings({"YANDEX_MUSIC_API_URL": "http://127.0.0.1:9/"})
    assert other.token is None and other.api_url == "http://127.0.0.1:9"
    assert "y0_SECRET" not in repr(YandexMusic("y0_SECRET", other.api_url))


# The command line, in this process (no worker starts before these errors) or as a real process.


def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, values: dict[str, str]) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.delenv("YANDEX_MUSIC_TOKEN", raising=False)
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "catalog.sqlite3"))
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_malformed_links_are_refused_before_anything_is_fetched(
    fake: FakeYandex,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cli_env(monkeypatch, tmp_path, fake.env())
    status = cli.main(["import-yandex", f"{YM}/album/1", f"{YM}/album/x", "https://example.com/a"])
    err = capsys.readouterr().err
    assert status == 2 and fake.requests == []
    assert f"{YM}/album/x: not a link to an album" in err and "understood links:" in err
    assert cli.main(["import-yandex"]) == 2
    assert "give at least one Yandex Music link, or --liked" in capsys.readouterr().err


@pytest.mark.parametrize("problem", ["missing", "rejected", "server error"])
def test_token_problems_are_one_line_and_never_show_the_token(
    problem: str,
    fake: FakeYandex,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    token = {
        "missing": None,
        "rejected": "y0_REJECTED_SECRET_0123456789",
        "server error": "default",
    }
    cli_env(monkeypatch, tmp_path, fake.env(token=token[problem]))
    monkeypatch.setattr(YandexMusic, "_delay", lambda self, attempt: 0.0)
    if problem == "server error":
        fake.fail("account", 500, times=99)
    status = cli.main(["import-yandex", f"{YM}/chart"])
    out, err = capsys.readouterr()
    expected = {
        "missing": (2, "error: YANDEX_MUSIC_TOKEN is not set; downloads and likes need it"),
        "rejected": (2, "error: YANDEX_MUSIC_TOKEN was rejected by the server"),
        "server error": (1, "error: cannot reach Yandex Music: account status: HTTP 500"),
    }[problem]
    assert (status, err.splitlines()[0][: len(expected[1])]) == expected
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    if problem != "server error":
        assert "YANDEX_MUSIC_TOKEN" in err and "README" in err  # how to get one
    for secret in (fake.token, "y0_REJECTED_SECRET_0123456789"):
        assert secret not in out + err + caplog.text
    assert not fake.calls("chart")


class BotProcess:
    """`python -m bot import-yandex` in its own process group, output to files (its embedding
    workers inherit the output; after a kill -9 they would hold a pipe open)."""

    def __init__(self, fake: FakeYandex, database: Path, *args: str) -> None:
        self.folder = database.parent
        self.out = (self.folder / "stdout.txt").open("w+")
        self.err = (self.folder / "stderr.txt").open("w+")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "import-yandex", *args, "--workers", "1"],
            cwd=ROOT,
            env={**os.environ, **fake.env(), "DATABASE_PATH": str(database)},
            stdout=self.out,
            stderr=self.err,
            text=True,
            start_new_session=True,
        )

    def finish(self, timeout: float = 180) -> tuple[int, str, str]:
        """Wait for the process; end what it left behind (its group); its exit status, output."""
        try:
            status = self.process.wait(timeout)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        outputs = []
        for file in (self.out, self.err):
            file.seek(0)
            outputs.append(file.read())
            file.close()
        return status, outputs[0], outputs[1]

    def stop_after(self, database: Path, tracks: int, stop: int) -> tuple[int, str, str]:
        deadline = time.monotonic() + 120
        while committed(database) < tracks and time.monotonic() < deadline:
            time.sleep(0.1)
        assert committed(database) >= tracks, "the import never committed a track"
        self.process.send_signal(stop)
        return self.finish(60)


def committed(database: Path) -> int:
    try:
        with sqlite3.connect(database, timeout=5) as db:
            return int(db.execute("SELECT count(*) FROM embeddings").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # not created yet


def test_an_interrupted_import_continues_where_it_stopped(fake: FakeYandex, tmp_path: Path) -> None:
    album_id, ids = fake.add_album("Long album", "Band", [mp3(20 + n, 8.0) for n in range(8)])
    link = f"{YM}/album/{album_id}"
    database = tmp_path / "catalog.sqlite3"

    status, out, err = BotProcess(fake, database, link).stop_after(database, 2, signal.SIGTERM)
    assert status == 130, err
    assert "interrupted: the tracks counted above are saved; rerun to continue" in out
    assert "Traceback" not in err and fake.token not in out + err
    saved = committed(database)

    status, _, _ = BotProcess(fake, database, link).stop_after(database, saved + 2, signal.SIGKILL)
    assert status == -signal.SIGKILL
    saved = committed(database)
    assert 4 <= saved < 8
    with sqlite3.connect(database) as db:
        present = {row[0] for row in db.execute("SELECT yandex_track_id FROM tracks")}
    downloads_before = dict(fake.downloads)

    status, out, err = BotProcess(fake, database, link).finish()
    assert status == 0, err
    assert out.splitlines()[0] == (
        f"added {8 - saved} · already present {saved} · metadata updated 0 · failed 0"
    )
    assert fake.token not in out + err
    for track_id in present:  # no second download of what the catalog had
        assert fake.downloads[track_id] == downloads_before[track_id]
    assert set(fake.downloads) == set(ids) and committed(database) == 8


@in_module_loop
async def test_a_track_already_in_the_catalog_from_a_file_gets_its_ids(
    fake: FakeYandex, service: EmbeddingService, tmp_path: Path
) -> None:
    """The same bytes imported before from a local file: no second vector, the ids attached."""
    track_id = fake.add_track("Same", "Band", mp3(30))
    file = tmp_path / "Band - Same.mp3"
    file.write_bytes(mp3(30))
    async with Database(tmp_path / "catalog.sqlite3") as database:
        from catalog.importer import Importer

        await Importer(database, service).run([file])
        job = await run_import(
            database, service, music_for(fake), parse_links([f"{YM}/track/{track_id}"]), tmp_path
        )
        (track,) = await database.tracks.list()
    assert job.summary.lines()[0].startswith("added 0 · already present 0 · metadata updated 1")
    assert track.yandex_track_id == track_id and track.title == "Same"
