"""`python -m bot import` and `recommend` as an operator runs them: real files, a real SQLite
catalog; the commands run in this process (cli_process.InProcess), except the interrupted
import, which is a real process stopped by a signal."""

import csv
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from audio_factory import encode, make_library, reencode_excerpt, synth_music
from cli_process import Finished, InProcess

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_bot(cli_main: InProcess) -> Callable[..., Finished]:
    """`python -m bot ARGS` with two workers, in this process."""

    def run(*args: str, database: Path) -> Finished:
        return cli_main(*args, database=database, env={"WORKERS": "2"})

    return run


def test_import_summarises_every_kind_of_file_and_reruns_add_nothing(
    tmp_path: Path, run_bot: Callable[..., Finished]
) -> None:
    music = tmp_path / "music"
    tracks = make_library(music, 3)
    (music / "albums").mkdir()
    shutil.copy(tracks[0], music / "albums" / "duplicate.mp3")
    shutil.copy(tracks[1], music / "albums" / "no_extension")  # audio by content
    encode(np.zeros(44_100 * 6, np.float32), music / "silent.mp3")
    (music / "corrupt.mp3").write_bytes(tracks[2].read_bytes()[:400] + bytes(6_000))
    (music / "notes.txt").write_text("not audio, skipped")
    (music / "cover.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))
    named = music / "named.mp3"
    named.write_text("text pretending to be an mp3")
    meta = tmp_path / "meta.csv"
    with meta.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["file", "title", "artist", "album", "yandex_track_id", "yandex_album_id"])
        writer.writerow(["music/Artist 0 - Song 0.mp3", "Песня", "Группа", "Альбом", "111", "22"])
        writer.writerow([str(tracks[2]), "Third", "", "", "333", ""])
        writer.writerow(["music/Artist 1 - Song 1.mp3", "", "", "", "not-a-number", ""])
    database = tmp_path / "catalog.sqlite3"

    first = run_bot("import", str(music), "--meta", str(meta), database=database)
    assert first.returncode == 1, first.stderr  # failures are listed and reflected in the status
    assert "line 4: yandex_track_id 'not-a-number' is not a number" in first.stderr
    summary = first.stdout.splitlines()
    assert summary[0] == (
        "added 3 · already present 2 · metadata updated 0 · failed 3 · skipped 2 non-audio file(s)"
    )
    failures = "\n".join(summary[1:])
    assert f"{music / 'silent.mp3'}: the track is silent" in failures
    assert f"{music / 'corrupt.mp3'}: this file is not audio" in failures
    assert f"{named}: this file is not audio" in failures
    assert "Traceback" not in first.stderr

    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT title, artist, album, yandex_track_id, yandex_album_id FROM tracks ORDER BY id"
        ).fetchall()
        assert db.execute("SELECT count(*) FROM embeddings").fetchone() == (3,)
    assert ("Песня", "Группа", "Альбом", "111", "22") in rows  # the CSV wins
    assert ("Third", "Artist 2", None, "333", None) in rows  # CSV + file name fill each other
    assert ("Song 1", "Artist 1", None, None, None) in rows  # "Artist - Title" file name

    meta.write_text(meta.read_text(encoding="utf-8").replace("Песня", "Песня (ремастер)"), "utf-8")
    second = run_bot("import", str(music), "--meta", str(meta), database=database)
    assert second.stdout.splitlines()[0].startswith(
        "added 0 · already present 4 · metadata updated 1 · failed 3"
    )
    listing = run_bot("catalog", "list", database=database)
    assert "Группа — Песня (ремастер)" in listing.stdout
    assert "https://music.yandex.ru/album/22/track/111" in listing.stdout


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_import_keeps_its_work_and_a_rerun_continues(
    tmp_path: Path, stop: signal.Signals, run_bot: Callable[..., Finished]
) -> None:
    music = tmp_path / "music"
    make_library(music, 8, seconds=20.0)
    database = tmp_path / "catalog.sqlite3"
    command = [sys.executable, "-m", "bot", "import", str(music), "--workers", "1"]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "DATABASE_PATH": str(database)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    committed = 0
    while committed < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
        if database.exists():
            try:
                with sqlite3.connect(database, timeout=5) as db:
                    committed = db.execute("SELECT count(*) FROM embeddings").fetchone()[0]
            except sqlite3.OperationalError:
                pass  # the schema is still being created
    assert committed >= 2, "the import never committed a track"
    process.send_signal(stop)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted: the tracks counted above are saved" in stdout
    assert "Traceback" not in stderr
    with sqlite3.connect(database) as db:
        kept = db.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    assert 2 <= kept < 8

    rerun = run_bot("import", str(music), database=database)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.splitlines()[0].startswith(f"added {8 - kept} · already present {kept}")
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM embeddings").fetchone() == (8,)


def test_recommend_finds_the_track_an_excerpt_comes_from(
    tmp_path: Path, run_bot: Callable[..., Finished], cli_main: InProcess
) -> None:
    music = tmp_path / "music"
    tracks = make_library(music, 4, seconds=30.0)
    database = tmp_path / "catalog.sqlite3"
    assert run_bot("import", str(music), database=database).returncode == 0
    excerpt = reencode_excerpt(tracks[2], tmp_path / "excerpt.mp3", start=8.0, seconds=15.0)

    result = run_bot("recommend", str(excerpt), "--json", "--top", "3", database=database)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    best = answer["in_catalog"] or answer["results"][0]
    assert best["title"] == "Song 2" and best["artist"] == "Artist 2"
    assert best["url"] == "https://music.yandex.ru/search?text=Artist+2+Song+2"
    assert answer["model"] == "fusion:aisfx+msd-vgg/pool5@fe3"

    text = run_bot("recommend", str(excerpt), database=database)
    assert "Artist 2 — Song 2" in text.stdout.splitlines()[1]

    # MODEL changed, catalog not reindexed yet: the CLI answers with the model the bot serves
    switched = cli_main(
        "recommend", str(excerpt), "--json", database=database, env={"MODEL": "mfcc"}
    )
    assert switched.returncode == 0, switched.stderr
    assert json.loads(switched.stdout)["model"] == "fusion:aisfx+msd-vgg/pool5@fe3"
    serving = "serving with fusion:aisfx+msd-vgg/pool5@fe3 (mfcc-stats@fe1 covers 0 of 4 tracks"
    assert serving in switched.stderr


def test_a_catalog_from_before_versioned_ids_is_adopted_not_reembedded(
    tmp_path: Path, run_bot: Callable[..., Finished], cli_main: InProcess
) -> None:
    music = tmp_path / "music"
    make_library(music, 2)
    database = tmp_path / "catalog.sqlite3"
    vgg = {"MODEL": "msd-vgg/pool5", "WORKERS": "2"}  # the model ids had no version before
    assert cli_main("import", str(music), database=database, env=vgg).returncode == 0
    with sqlite3.connect(database) as connection:  # as an earlier version stored them
        connection.execute("UPDATE embeddings SET model_id = 'msd-vgg/pool5'")
    rerun = cli_main("import", str(music), database=database, env=vgg)
    assert rerun.returncode == 0 and "added 0 · already present 2" in rerun.stdout, rerun.stdout
    stats = run_bot("catalog", "stats", database=database).stdout
    assert "vectors of msd-vgg/pool5@fe1: 2" in stats and "msd-vgg/pool5:" not in stats


def test_recommend_on_an_empty_catalog_says_what_to_do(
    tmp_path: Path, run_bot: Callable[..., Finished]
) -> None:
    query = encode(synth_music(6.0), tmp_path / "q.mp3")
    result = run_bot("recommend", str(query), database=tmp_path / "empty.sqlite3")
    assert result.returncode == 1
    assert "python -m bot import" in result.stderr and "Traceback" not in result.stderr


def test_catalog_stats_and_remove(tmp_path: Path, run_bot: Callable[..., Finished]) -> None:
    music = tmp_path / "music"
    make_library(music, 2)
    database = tmp_path / "catalog.sqlite3"
    run_bot("import", str(music), database=database)
    stats = run_bot("catalog", "stats", database=database).stdout
    assert "tracks: 2" in stats and "vectors of fusion:aisfx+msd-vgg/pool5@fe3: 2" in stats
    assert run_bot("catalog", "remove", "1", database=database).stdout.startswith("removed 1: ")
    missing = run_bot("catalog", "remove", "1", database=database)
    assert missing.returncode == 1 and "no track with id 1" in missing.stderr
    assert "tracks: 1" in run_bot("catalog", "stats", database=database).stdout


def test_missing_paths_and_a_bad_csv_are_clear_errors(
    tmp_path: Path, run_bot: Callable[..., Finished]
) -> None:
    database = tmp_path / "catalog.sqlite3"
    bad_csv = tmp_path / "meta.csv"
    bad_csv.write_text("path,name\nx.mp3,y\n")
    result = run_bot("import", str(tmp_path), "--meta", str(bad_csv), database=database)
    assert result.returncode == 2 and "the header lacks file, title" in result.stderr
    missing = run_bot("import", str(tmp_path / "nowhere"), database=database)
    assert missing.returncode == 1
    assert f"{tmp_path / 'nowhere'}: no such file or folder" in missing.stdout
