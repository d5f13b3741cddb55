"""`import-yandex` against a hostile Yandex stand-in (issue 16): ids that are paths, bodies that
are huge, endless or slow, redirects to plain http, malformed answers, a token revoked during
the run, a run killed with -9, re-issues. The real library, real mp3 bytes over TLS, real
worker processes (the mfcc model: no TensorFlow) and real SQLite files."""

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
from catalog.yandex.client import YandexMusic
from catalog.yandex.importer import YandexImport
from catalog.yandex.links import parse_links
from core.embedding_service import EmbeddingService
from core.fetching import FetchError, FetchLimits, fetch
from core.models import parse_model_spec
from storage import Database

ROOT = Path(__file__).resolve().parents[3]
YM = "https://music.yandex.ru"
in_module_loop = pytest.mark.asyncio(loop_scope="module")
_MP3: dict[int, bytes] = {}


def mp3(seed: int) -> bytes:
    """A distinct short track (cached: ffmpeg runs once per seed)."""
    if seed not in _MP3:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "t.mp3"
            encode(synth_music(4.0, seed=seed, **style_for(seed)), path, channels=2)  # type: ignore[arg-type,unused-ignore]
            _MP3[seed] = path.read_bytes()
    return _MP3[seed]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service() -> AsyncIterator[EmbeddingService]:
    async with EmbeddingService(parse_model_spec("mfcc"), workers=1) as started:
        yield started


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeYandex]:
    with FakeYandex(tmp_path) as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))
        yield server


def cli_env(monkeypatch: pytest.MonkeyPatch, fake: FakeYandex, database: Path) -> None:
    monkeypatch.chdir(database.parent)  # no .env of the developer's
    for name, value in {
        **fake.env(),
        "DATABASE_PATH": str(database),
        "MODEL": "mfcc",
        "WORKERS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(YandexMusic, "_delay", lambda self, attempt: 0.0)


def titles(database: Path) -> list[str]:
    with sqlite3.connect(database) as db:
        return sorted(row[0] for row in db.execute("SELECT title FROM tracks"))


def files_under(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_ids_that_are_paths_touch_no_file_and_fail_their_track_only(
    fake: FakeYandex,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 16.1: an absolute id removed an unrelated file, `../` wrote outside --keep, an id
    naming a local mp3 got that file imported."""
    work = tmp_path / "work"
    keep = work / "keep"
    work.mkdir()
    database = work / "catalog.sqlite3"
    cli_env(monkeypatch, fake, database)
    (tmp_path / "victim.mp3").write_bytes(b"precious")
    (work / "local.mp3").write_bytes(mp3(51))
    good = fake.add_track("Good", "A", mp3(50))
    hostile = [
        fake.add_track("Absolute", "A", mp3(52), shown_id=str(tmp_path / "victim")),
        fake.add_track("Dots", "A", mp3(53), shown_id="../escaped"),
        fake.add_track("Local", "A", mp3(54), shown_id="../local"),
        fake.add_track("Arabic digits", "A", mp3(55), shown_id="١٢٣"),
        fake.add_track("Bad album", "A", mp3(56), shown_album_id="../../x"),
    ]
    fake.add_user_playlist("ann", 1, [*hostile[:1], good])
    fake.add_user_playlist("ann", 2, hostile[1:])
    before = files_under(tmp_path)

    first = cli.main(["import-yandex", f"{YM}/users/ann/playlists/1"])
    second = cli.main(["import-yandex", f"{YM}/users/ann/playlists/2", "--keep", str(keep)])
    out = capsys.readouterr().out

    assert (first, second) == (1, 1)
    assert titles(database) == ["Good"]
    after = files_under(tmp_path)
    assert {p: b for p, b in after.items() if p in before} == before  # nothing changed or removed
    made = {p.relative_to(tmp_path) for p in after if p not in before}
    assert {p for p in made if not p.name.startswith("catalog.sqlite3")} == set()
    assert fake.downloads.total() == 1  # the good track only
    assert "failed: A — Absolute: the answer's track id '/" in out
    assert "failed: A — Dots: the answer's track id '../escaped' is not a Yandex id" in out
    assert "failed: A — Local: the answer's track id '../local' is not a Yandex id" in out
    assert "failed: A — Arabic digits: the answer's track id '١٢٣' is not a Yandex id" in out
    assert "failed: A — Bad album: the answer's album id '../../x' is not a Yandex id" in out
    assert "Traceback" not in out


def test_a_body_over_the_cap_is_a_failure_and_never_reaches_the_catalog(
    fake: FakeYandex,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 16.2: a 2 GiB body was held in memory (4 GB RSS) and added to the catalog. The
    figure: bench/yandex_download_rss.py."""
    database = tmp_path / "catalog.sqlite3"
    cli_env(monkeypatch, fake, database)
    huge = fake.add_track("Huge", "A", mp3(57))
    fake.serve_body(huge, size=2 << 30)
    fine = fake.add_track("Fine", "A", mp3(58))
    fake.add_user_playlist("ann", 1, [huge, fine])

    status = cli.main(["import-yandex", f"{YM}/users/ann/playlists/1"])
    out = capsys.readouterr().out

    assert status == 1 and titles(database) == ["Fine"]
    assert f"failed: A — Huge ({YM}/album/" in out
    assert f"download of track {huge}: the file is larger than 200 MB" in out
    assert list((tmp_path / "catalog.sqlite3.yandex-downloads").rglob("*.*")) == []


def test_a_token_revoked_during_the_run_stops_it_and_a_rerun_continues(
    fake: FakeYandex,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 16.3: reported as "unavailable (account, region or rights)", exit status 0."""
    database = tmp_path / "catalog.sqlite3"
    cli_env(monkeypatch, fake, database)
    album_id, _ = fake.add_album("Album", "Band", [mp3(60 + n) for n in range(6)])
    fake.revoke_token(after_downloads=1)

    status = cli.main(["import-yandex", f"{YM}/album/{album_id}"])
    out, err = capsys.readouterr()

    assert status == 2, out + err
    assert err.splitlines()[-1].startswith(
        "error: YANDEX_MUSIC_TOKEN was rejected by the server during the run"
    )
    assert "unavailable" not in out and fake.token not in out + err
    saved = len(titles(database))
    assert 1 <= saved < 6 and f"added {saved} ·" in out

    fake.revoked, fake._revoke_after = False, None  # a new token, say
    downloaded = dict(fake.downloads)
    assert cli.main(["import-yandex", f"{YM}/album/{album_id}"]) == 0
    assert capsys.readouterr().out.startswith(f"added {6 - saved} · already present {saved}")
    assert len(titles(database)) == 6
    assert all(fake.downloads[i] == downloaded[i] for i in downloaded if downloaded[i])


def test_partial_downloads_of_a_killed_run_are_removed_by_the_next(
    fake: FakeYandex, tmp_path: Path
) -> None:
    """Issue 16.8: kill -9 left `*.part` files in TMPDIR/soundalike-yandex-* for good."""
    database = tmp_path / "catalog.sqlite3"
    scratch = tmp_path / "tmpdir"
    scratch.mkdir()
    slow = fake.add_track("Slow", "A", mp3(70))
    fake.serve_body(slow, size=None, rate=64 * 1024)  # endless, above the minimum rate
    fine = fake.add_track("Fine", "A", mp3(71))
    env = {
        **os.environ,
        **fake.env(),
        "DATABASE_PATH": str(database),
        "MODEL": "mfcc",
        "WORKERS": "1",
        "TMPDIR": str(scratch),
    }
    command = [sys.executable, "-m", "bot", "import-yandex"]
    private = tmp_path / "catalog.sqlite3.yandex-downloads"
    with (tmp_path / "out.txt").open("w") as out:
        process = subprocess.Popen(
            [*command, f"{YM}/track/{slow}"], cwd=ROOT, env=env, stdout=out, stderr=out,
            start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while not any(private.rglob("*.*")) and time.monotonic() < deadline:
                time.sleep(0.1)
            partial = list(private.rglob("*.*"))
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert [p.name for p in partial] == [f"{slow}.mp3"], (tmp_path / "out.txt").read_text()
    assert partial[0].parent.parent == private and private.stat().st_mode & 0o077 == 0
    assert list(scratch.iterdir()) == []  # nothing in TMPDIR

    rerun = subprocess.run(
        [*command, f"{YM}/track/{fine}"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert not partial[0].exists() and list(private.iterdir()) == []
    assert list(scratch.iterdir()) == []


@in_module_loop
async def test_a_reissue_of_a_catalog_track_is_downloaded_once_then_never(
    fake: FakeYandex, service: EmbeddingService, tmp_path: Path
) -> None:
    """Issue 16.9: every rerun downloaded again each track whose audio the catalog had under
    another Yandex id."""
    original = fake.add_track("Song", "Band", mp3(80))
    reissues = [fake.add_track("Song", "Band", mp3(80), album_title=f"Best of {n}") for n in (1, 2)]
    fake.add_user_playlist("ann", 5, [original, *reissues])
    targets = parse_links([f"{YM}/users/ann/playlists/5"])
    music = YandexMusic(fake.token, fake.api_url, backoff=0.01)
    async with Database(tmp_path / "catalog.sqlite3") as database:
        for _ in range(3):
            job = YandexImport(database, service, music, tmp_path)
            await job.run(await job.collect(targets))
        (track,) = await database.tracks.list()
        assert await database.tracks.find_by_yandex_id(reissues[1]) == track
    assert [fake.downloads[i] for i in (original, *reissues)] == [1, 1, 1]
    assert job.summary.lines()[0] == "added 0 · already present 3 · metadata updated 0 · failed 0"


def music_with(fake: FakeYandex, **limits: float) -> YandexMusic:
    return YandexMusic(
        fake.token,
        fake.api_url,
        backoff=0.01,
        attempts=2,
        limits=FetchLimits(**limits),  # type: ignore[arg-type]
    )


@in_module_loop
async def test_a_download_that_never_ends_gives_up_by_its_deadline_or_rate(
    fake: FakeYandex, service: EmbeddingService, tmp_path: Path
) -> None:
    """Issue 16.10: an endless body held a slot for 180 s x 5 attempts."""
    trickle = fake.add_track("Trickle", "A", mp3(90))
    fake.serve_body(trickle, size=None, rate=2048, piece=512)  # endless, 2 KB/s
    steady = fake.add_track("Steady", "A", mp3(91))
    fake.serve_body(steady, size=None, rate=256 * 1024)  # endless, fast enough
    fake.add_user_playlist("ann", 1, [trickle, steady])
    music = music_with(fake, grace=0.5, min_rate=32 * 1024, deadline=3.0)
    async with Database(tmp_path / "catalog.sqlite3") as database:
        job = YandexImport(database, service, music, tmp_path)
        await job.run(await job.collect(parse_links([f"{YM}/users/ann/playlists/1"])))
        assert await database.tracks.list() == []
    failures = dict((str(name).split(" (")[0], why) for name, why in job.summary.failures)
    assert failures["A — Trickle"].startswith(f"download of track {trickle}: too slow (")
    assert failures["A — Trickle"].endswith(
        "at least 32 KB/s is needed) (gave up after 2 attempts)"
    )
    assert failures["A — Steady"] == (
        f"download of track {steady}: not whole within the 3 s deadline"
    )
    assert list(tmp_path.glob("*.mp3")) == []


@in_module_loop
async def test_audio_is_never_fetched_over_plain_http(
    fake: FakeYandex, service: EmbeddingService, tmp_path: Path
) -> None:
    """Issue 16.10: a redirect of the mp3 to another host over http was followed."""
    downgraded = fake.add_track("Downgraded", "A", mp3(92))
    fake.redirect_mp3(downgraded, "http")
    moved = fake.add_track("Moved", "A", mp3(93))
    fake.redirect_mp3(moved, "https")
    fake.add_user_playlist("ann", 1, [downgraded, moved])
    music = YandexMusic(fake.token, fake.api_url, backoff=0.01)
    async with Database(tmp_path / "catalog.sqlite3") as database:
        job = YandexImport(database, service, music, tmp_path)
        await job.run(await job.collect(parse_links([f"{YM}/users/ann/playlists/1"])))
        assert [t.title for t in await database.tracks.list()] == ["Moved"]
    assert [why for _, why in job.summary.failures] == [
        f"download of track {downgraded}: redirected to plain http, which is not followed "
        "(https only)"
    ]
    assert fake.downloads[downgraded] == 0 and fake.downloads[moved] == 1

    # the local pool's embed_url never starts a plain-http fetch, even one handed to it
    with pytest.raises(FetchError, match="the download link is not https"):
        await service.embed_url(
            f"http://127.0.0.1:9/{downgraded}.mp3", limits=FetchLimits(), into=tmp_path / "x.mp3"
        )
    assert not (tmp_path / "x.mp3").exists()

    # the Ray actors' fetch keeps the same rule
    (found,) = await music.tracks_for(parse_links([f"{YM}/track/{downgraded}"])[0])
    link = await music.direct_link(found)
    with pytest.raises(FetchError, match="redirected to plain http"):
        fetch(link, tmp_path / "a.mp3", FetchLimits(), fake.ca_file.read_text())
    assert fake.downloads[downgraded] == 0


@in_module_loop
async def test_malformed_answers_say_what_was_wrong(
    fake: FakeYandex, service: EmbeddingService, tmp_path: Path
) -> None:
    """Issue 16.10: a malformed answer was reported as a bare "YandexMusicError"."""
    album_id, ids = fake.add_album("Album", "Band", [mp3(94)])
    fake.garble("album", b"<html>proxy error</html>")
    fake.garble("download-info", b"\xff\xfe not utf-8", track_id=ids[0])
    links = parse_links([f"{YM}/album/{album_id}", f"{YM}/track/{ids[0]}"])
    music = YandexMusic(fake.token, fake.api_url, backoff=0.01)
    async with Database(tmp_path / "catalog.sqlite3") as database:
        job = YandexImport(database, service, music, tmp_path)
        await job.run(await job.collect(links))
    assert job.summary.failures[0] == (
        "album " + album_id,
        "malformed answer (Invalid server response)",
    )
    assert job.summary.failures[1][1] == (
        f"download of track {ids[0]}: malformed answer "
        "(Server response could not be decoded using UTF-8)"
    )


@in_module_loop
async def test_names_from_the_api_are_cleaned_at_ingestion(
    fake: FakeYandex, service: EmbeddingService, tmp_path: Path
) -> None:
    """Issue 16.4 (the Yandex part): ESC, BEL, NUL and bidi overrides reached the catalog."""
    track_id = fake.add_track(
        "Evil\x1b[2J\x07 \u202eTitle" + "x" * 20_000, ["Band\x00", "Guest\u202e"], mp3(95),
        version="Live\x1b", album_title="Album\x9b",
    )  # fmt: skip
    music = YandexMusic(fake.token, fake.api_url, backoff=0.01)
    async with Database(tmp_path / "catalog.sqlite3") as database:
        job = YandexImport(database, service, music, tmp_path)
        await job.run(await job.collect(parse_links([f"{YM}/track/{track_id}"])))
        (track,) = await database.tracks.list()
    assert track.title.startswith("Evil[2J Titlexxx") and track.title.endswith("…")
    assert len(track.title) == 200
    assert (track.artist, track.album) == ("Band, Guest", "Album")
