"""Hostile names (terminal escapes, bidi overrides, 20 KB titles) from files' tags and the import
CSV: cleaned on the way into a real SQLite catalog, and escaped by `catalog list` and
`recommend` for catalogs that hold them from before."""

import json
import sqlite3
from pathlib import Path

import pytest
from audio_factory import encode, style_for, synth_music

from bot.cli import main as cli
from catalog.names import MAX_NAME_CHARS

ESCAPES = "\x1b]0;owned\x07\x1b[2J\x1b[31m"  # retitle the terminal, clear it, turn it red
HEADER = "file,title,artist,album,yandex_track_id,yandex_album_id\n"


def raw_controls(text: str) -> set[str]:
    """The characters of `text` that a terminal would act on (line breaks between lines aside)."""
    return {c for c in text if c != "\n" and (not c.isprintable() or c in "\u202e\u2066")}


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A catalog on disk, the fast mfcc model, one worker; no .env of the developer's."""
    database = tmp_path / "catalog.sqlite3"
    monkeypatch.setenv("DATABASE_PATH", str(database))
    monkeypatch.setenv("MODEL", "mfcc")
    monkeypatch.setenv("WORKERS", "1")
    monkeypatch.chdir(tmp_path)
    return database


def stored_names(database: Path) -> dict[str, tuple[str, str, str]]:
    """(title, artist, album) by the file's name."""
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT source_path, title, artist, album FROM tracks")
        return {Path(path).name: tuple(names) for path, *names in rows}


def test_names_from_tags_and_the_csv_are_cleaned_on_import(
    tmp_path: Path, settings: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    music = tmp_path / "music"
    music.mkdir()
    tagged = encode(
        synth_music(6.0, seed=1, **style_for(1)),
        music / "tagged.mp3",
        extra=[
            "-metadata", f"title={ESCAPES}Red\u202e3pm.mp3",
            "-metadata", "artist=" + "A" * 20_000,
            "-metadata", "album=Tab\tand\nnewline",
        ],
    )  # fmt: skip
    listed = encode(synth_music(6.0, seed=2, **style_for(2)), music / "listed.mp3")
    meta = music / "meta.csv"
    meta.write_text(
        HEADER + f'listed.mp3,"Nul\x00l {ESCAPES}",\u2066Isolated\u2069,"Bell\x07",,\n',
        encoding="utf-8",
    )

    assert cli.main(["import", str(listed), str(tagged), "--meta", str(meta)]) == 0
    names = stored_names(settings)
    assert names["listed.mp3"] == ("Null ]0;owned[2J[31m", "Isolated", "Bell")
    title, artist, album = names["tagged.mp3"]
    assert title == "]0;owned[2J[31mRed3pm.mp3" and album == "Tab and newline"
    assert len(artist) == MAX_NAME_CHARS and artist.endswith("A…")

    capsys.readouterr()
    assert cli.main(["catalog", "list"]) == 0
    out = capsys.readouterr().out
    assert not raw_controls(out) and max(map(len, out.splitlines())) < 1_000  # 20 KB before
    assert "Isolated — Null ]0;owned[2J[31m" in out


def test_names_stored_before_cleaning_are_escaped_on_output(
    tmp_path: Path, settings: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    track = encode(synth_music(8.0, seed=3, **style_for(3)), tmp_path / "Artist - Song.mp3")
    assert cli.main(["import", str(track)]) == 0
    hostile = f"{ESCAPES}Song\x00\x9b\u202eevil"
    with sqlite3.connect(settings) as connection:  # as an earlier version stored a tag
        connection.execute("UPDATE tracks SET title = ?, artist = ?", (hostile, "Art\x07ist"))
    capsys.readouterr()

    assert cli.main(["catalog", "list"]) == 0
    listing = capsys.readouterr().out
    assert not raw_controls(listing)
    assert "Art\\u0007ist — \\u001b]0;owned\\u0007\\u001b[2J" in listing
    assert "Song\\u0000\\u009b\\u202eevil" in listing

    assert cli.main(["recommend", str(track)]) == 0
    text = capsys.readouterr().out
    assert not raw_controls(text) and "\\u202eevil" in text

    assert cli.main(["recommend", str(track), "--json"]) == 0
    out = capsys.readouterr().out
    assert not raw_controls(out)
    answer = json.loads(out)  # still JSON, and the names read back as stored
    best = answer["in_catalog"] or answer["results"][0]
    assert (best["title"], best["artist"]) == (hostile, "Art\x07ist")

    assert cli.main(["catalog", "remove", "1"]) == 0
    removed = capsys.readouterr().out
    assert not raw_controls(removed) and removed.startswith("removed 1: Art\\u0007ist")
