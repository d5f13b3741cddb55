"""`python -m bot reindex`: a catalog built with one model moves to another, resumably, and the
bot serves with the model that covers the catalog until then. The commands run in this process
(cli_process.InProcess)."""

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from audio_factory import encode, style_for, synth_music
from cli_process import Finished, InProcess
from fake_yandex import FakeYandex

from catalog.serving import serving_model
from core.models import parse_model_spec
from storage import Database

FUSION = "fusion:aisfx+msd-vgg"


@pytest.fixture
def run_bot(cli_main: InProcess) -> Callable[..., Finished]:
    """`python -m bot ARGS` with MODEL=`model` and one worker, in this process."""

    def run(*args: str, database: Path, model: str, env: dict[str, str] | None = None) -> Finished:
        settings = {**(env or {}), "MODEL": model, "WORKERS": "1"}
        return cli_main(*args, database=database, env=settings)

    return run


def vectors_per_model(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT model_id, count(*) FROM embeddings GROUP BY model_id")
        return dict(rows.fetchall())


def test_reindex_moves_a_catalog_to_the_fusion_and_resumes(
    tmp_path: Path, run_bot: Callable[..., Finished]
) -> None:
    music = tmp_path / "music"
    music.mkdir()
    for i in range(3):
        audio = synth_music(10.0, seed=i, **style_for(i))
        encode(audio, music / f"Artist {i} - Song {i}.mp3", channels=2)
    database = tmp_path / "catalog.sqlite3"
    imported = run_bot("import", str(music), database=database, model="mfcc")
    assert imported.returncode == 0, imported.stderr
    (music / "Artist 2 - Song 2.mp3").unlink()  # its audio is no longer reachable

    first = run_bot("reindex", database=database, model=FUSION)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[0] == ("embedded 2 · already had the model 0 · audio unreachable 1 · failed 0"), (
        first.stdout
    )
    assert "Song 2.mp3 no longer exists" in lines[1]
    fused = parse_model_spec(FUSION).model_id
    assert vectors_per_model(database) == {"mfcc-stats@fe1": 3, fused: 2}

    again = run_bot("reindex", database=database, model=FUSION)
    assert again.stdout.splitlines()[0].startswith("embedded 0 · already had the model 2")

    # two of three tracks: the bot keeps serving with mfcc, which covers the catalog
    async def serving() -> tuple[str, str]:
        async with Database(database) as db:
            spec, line = await serving_model(db, parse_model_spec(FUSION))
            return spec.model_id, line

    model_id, line = asyncio.run(serving())
    assert model_id == "mfcc-stats@fe1"
    assert line == (
        f"serving with mfcc-stats@fe1 ({fused} covers 2 of 3 tracks; run python -m bot reindex)"
    )


def test_a_covering_model_serves(tmp_path: Path) -> None:
    async def check() -> None:
        async with Database(tmp_path / "c.sqlite3") as db:
            spec = parse_model_spec("mfcc")
            track = await db.tracks.add("ab" * 32, "Song")
            await db.embeddings.put(track, spec.model_id, np.ones(104, np.float32))
            chosen, line = await serving_model(db, spec)
            assert chosen == spec and line == "serving with mfcc-stats@fe1 (1 tracks)"

    asyncio.run(check())


def test_reindex_gives_vectors_stored_before_sections_their_sections(
    tmp_path: Path, run_bot: Callable[..., Finished]
) -> None:
    music = tmp_path / "music"
    music.mkdir()
    for i in range(3):
        encode(synth_music(10.0, seed=i, **style_for(i)), music / f"A{i} - S{i}.mp3")
    database = tmp_path / "catalog.sqlite3"
    assert run_bot("import", str(music), database=database, model="mfcc").returncode == 0
    with sqlite3.connect(database) as db:  # as a catalog imported before migration 6 holds them
        db.execute("UPDATE embeddings SET sections = NULL WHERE track_id IN (1, 2)")
        before = dict(db.execute("SELECT track_id, vector FROM embeddings").fetchall())

    done = run_bot("reindex", database=database, model="mfcc")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("embedded 2 · already had the model 1"), done.stdout
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT track_id, vector, length(sections) FROM embeddings").fetchall()
    assert {track_id: vector for track_id, vector, _ in rows} == before  # same vectors
    assert all(size and size % (2 * 104) == 0 for _, _, size in rows)


def test_reindex_downloads_yandex_music_tracks_again(
    tmp_path: Path, run_bot: Callable[..., Finished]
) -> None:
    songs = []
    for i in range(3):
        path = encode(synth_music(8.0, seed=i, **style_for(i)), tmp_path / f"{i}.mp3")
        songs.append(path.read_bytes())
    database, scratch = tmp_path / "catalog.sqlite3", tmp_path / "tmp"
    scratch.mkdir()
    with FakeYandex(tmp_path) as fake:
        album_id, track_ids = fake.add_album("Album", "Band", songs)
        link = f"https://music.yandex.ru/album/{album_id}"
        imported = run_bot("import-yandex", link, database=database, model="mfcc", env=fake.env())
        assert imported.returncode == 0, imported.stderr

        no_token = run_bot(
            "reindex", database=database, model="msd-vgg/pool5", env=fake.env(token=None)
        )
        assert no_token.stdout.startswith(
            "embedded 0 · already had the model 0 · audio unreachable 3"
        )
        assert "set YANDEX_MUSIC_TOKEN to download it again" in no_token.stdout

        fake.fail("download-info", 404, track_id=track_ids[2])  # taken down since the import
        env = {**fake.env(), "TMPDIR": str(scratch)}
        dead_run = tmp_path / "catalog.sqlite3.yandex-downloads" / "run-killed"
        dead_run.mkdir(parents=True)
        (dead_run / f"{track_ids[0]}.part").write_bytes(b"half a track")  # a kill -9's leftover
        done = run_bot("reindex", database=database, model="msd-vgg/pool5", env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[0] == (
            "embedded 2 · already had the model 0 · audio unreachable 1 · failed 0 · "
            "downloaded from Yandex Music 2"
        ), done.stdout
        assert "Yandex Music: removed" in done.stdout
        downloads = [r for r in fake.calls("download-info") if r.track_id in track_ids[:2]]
        assert len(downloads) >= 4  # the import's and the reindex's
    assert list(scratch.iterdir()) == []  # downloads live beside the database, not in TMPDIR
    assert list((tmp_path / "catalog.sqlite3.yandex-downloads").iterdir()) == []  # all removed
    model_id = parse_model_spec("msd-vgg/pool5").model_id
    assert vectors_per_model(database) == {"mfcc-stats@fe1": 3, model_id: 2}
