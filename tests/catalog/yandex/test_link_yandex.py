"""`link-yandex`: Yandex ids for catalog tracks from local files, by confident search only."""

import asyncio
import hashlib
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_yandex import FakeYandex

from bot.cli import main as cli
from catalog.links import track_url
from catalog.yandex.client import YandexMusic, YandexTrack
from catalog.yandex.matching import artists_match, is_confident, link_catalog, normalise
from storage import Database, Track

YM = "https://music.yandex.ru"
_numbers = itertools.count()


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeYandex]:
    with FakeYandex(tmp_path) as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))
        yield server


def test_normalise_folds_case_yo_punctuation_and_spacing() -> None:
    assert normalise("  Группа КРОВИ! ") == normalise("группа   крови") == "группа крови"
    assert normalise("Ёлка") == normalise("елка")
    assert normalise("Don't Stop (Me Now)") == "don t stop me now"
    assert normalise("ＡＢＣ") == "abc"  # full-width forms


def candidate(
    title: str, artists: list[str], seconds: float | None, bare: str | None = None
) -> YandexTrack:
    return YandexTrack(
        "1", "2", title, ", ".join(artists), None, seconds, bare_title=bare or title,
        artists=tuple(artists),
    )  # fmt: skip


def test_artists_match_however_they_are_joined() -> None:
    duet = candidate("Duet", ["A", "B"], None)
    assert artists_match("A, B", duet) and artists_match("a & b", duet)
    assert artists_match("B feat. A", duet)
    assert not artists_match("A", duet) and not artists_match(None, duet)


async def test_confidence_needs_title_artist_and_duration(tmp_path: Path) -> None:
    async with Database(tmp_path / "c.sqlite3") as database:
        track_id = await database.tracks.add("a" * 64, "Song", artist="Band", duration=200.0)
        local = await database.tracks.get(track_id)
    assert local is not None
    assert is_confident(local, candidate("Song", ["Band"], 202.5))
    assert is_confident(local, candidate("Song (Remastered)", ["Band"], 200.0, bare="Song"))
    assert is_confident(local, candidate("SONG", ["band"], None))  # no duration: names decide
    assert not is_confident(local, candidate("Song", ["Band"], 210.0))
    assert not is_confident(local, candidate("Song 2", ["Band"], 200.0))
    assert not is_confident(local, candidate("Song", ["Other"], 200.0))


async def add_local(database: Database, title: str, artist: str | None, **fields: object) -> int:
    digest = hashlib.sha256(f"local {next(_numbers)}".encode()).hexdigest()
    return await database.tracks.add(digest, title, artist=artist, **fields)  # type: ignore[arg-type]


async def test_matched_ambiguous_and_not_found(fake: FakeYandex, tmp_path: Path) -> None:
    kino = fake.add_track(
        "Группа Крови", "КИНО", b"", duration_ms=286_000, album_title="Группа крови"
    )
    twice = [fake.add_track("Twice", "Band", b"", duration_ms=200_500) for _ in range(2)]
    fake.add_track("Longer", "Band", b"", duration_ms=180_000)
    yolka = fake.add_track("Прованс", "Елка", b"")
    duet = fake.add_track("Duet", ["A", "B"], b"", version="Remastered", duration_ms=150_000)
    async with Database(tmp_path / "c.sqlite3") as database:
        ids = {
            "kino": await add_local(database, "Группа крови", "Кино", duration=285.2),
            "twice": await add_local(database, "Twice", "Band", duration=200.0),
            "unknown": await add_local(database, "Unknown Song", "Nobody"),
            "longer": await add_local(database, "Longer", "Band", duration=100.0),
            "yolka": await add_local(database, "Прованс", "Ёлка"),
            "duet": await add_local(database, "Duet", "A & B", duration=151.0),
            "no artist": await add_local(database, "Twice", None),
            "linked": await add_local(database, "Twice", "Band", yandex_track_id="42"),
        }
        music = YandexMusic(None, fake.api_url)  # search needs no token

        dry = await link_catalog(database, music, dry_run=True)
        assert [t.yandex_track_id for t in await database.tracks.list()] == [None] * 7 + ["42"]
        report = await link_catalog(database, music, dry_run=False)
        assert report.lines(False) == dry.lines(False)

        matched = {track.id: found.track_id for track, found in report.matched}
        assert matched == {ids["kino"]: kino, ids["yolka"]: yolka, ids["duet"]: duet}
        ((track, candidates),) = report.ambiguous
        assert track.id == ids["twice"] and sorted(c.track_id for c in candidates) == sorted(twice)
        assert {t.id for t in report.not_found} == {ids["unknown"], ids["longer"], ids["no artist"]}
        assert report.failed == []
        song = await database.tracks.get(ids["kino"])
        assert song is not None and song.yandex_track_id == kino
        album = fake._state.tracks[kino].album_id
        assert track_url(song) == f"{YM}/album/{album}/track/{kino}"
        linked = await database.tracks.get(ids["linked"])
        assert linked is not None and linked.yandex_track_id == "42"
        searched = [c.query["text"][0] for c in fake.calls("search")]
        assert len(searched) == 2 * 6  # twice each (dry run, real run); never for linked ones

        again = await link_catalog(database, music, dry_run=False)
    assert (len(again.matched), len(again.ambiguous), len(again.not_found)) == (0, 1, 3)


def test_the_command_reports_and_dry_run_writes_nothing(
    fake: FakeYandex,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    track_id = fake.add_track("Song", "Band", b"", duration_ms=200_000)
    database_path = tmp_path / "catalog.sqlite3"

    async def prepare() -> int:
        async with Database(database_path) as database:
            return await add_local(database, "Song", "Band", duration=199.0)

    local = asyncio.run(prepare())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_PATH", str(database_path))
    monkeypatch.setenv("YANDEX_MUSIC_API_URL", fake.api_url)
    monkeypatch.setenv("YANDEX_MUSIC_TOKEN", fake.token)

    assert cli.main(["link-yandex", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    head = "matched 1 · ambiguous 0 · not found 0 · failed 0 (dry run: nothing written)"
    assert out[0] == head and out[1].startswith(f"  matched: #{local} Band — Song → {YM}/album/")
    assert cli.main(["link-yandex", "--dry-run"]) == 0  # nothing was written
    assert capsys.readouterr().out.startswith("matched 1")
    assert cli.main(["link-yandex"]) == 0
    assert cli.main(["link-yandex"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("matched 0 · ambiguous 0")
    assert fake.token not in capsys.readouterr().err

    monkeypatch.setenv("YANDEX_MUSIC_TOKEN", "y0_WRONG_TOKEN_abcdef")
    assert cli.main(["link-yandex"]) == 2
    err = capsys.readouterr().err
    assert "YANDEX_MUSIC_TOKEN was rejected" in err and "y0_WRONG_TOKEN_abcdef" not in err
    linked = asyncio.run(read(database_path, local))
    assert linked.yandex_track_id == track_id and linked.yandex_album_id


async def read(database_path: Path, track_id: int) -> Track:
    async with Database(database_path) as database:
        track = await database.tracks.get(track_id)
    assert track is not None
    return track
