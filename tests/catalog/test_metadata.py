"""Track metadata: CSV rows, file tags (written by ffmpeg), file names; and settings."""

from pathlib import Path

import pytest
from audio_factory import encode, synth_music

from bot.config import ConfigError, load_settings
from catalog.metadata import (
    MetadataFileError,
    TrackMetadata,
    from_file_name,
    from_tags,
    metadata_for,
    read_metadata_csv,
)

HEADER = "file,title,artist,album,yandex_track_id,yandex_album_id\n"


def test_csv_rows_resolve_relative_and_absolute_paths(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    meta = tmp_path / "sub" / "meta.csv"
    absolute = tmp_path / "elsewhere.mp3"
    meta.write_text(
        "\ufeff"  # Excel's UTF-8 byte order mark
        + HEADER
        + "a.mp3,Название,Исполнитель,Альбом,1,2\n"
        + f'"{absolute}"," Spaced ",,,,\n'
        + ",no file,,,,\n"
        + "b.mp3,B,,,x1,\n",
        encoding="utf-8",
    )
    table = read_metadata_csv(meta)
    assert table.rows[(tmp_path / "sub" / "a.mp3").resolve()] == TrackMetadata(
        "Название", "Исполнитель", "Альбом", "1", "2"
    )
    assert table.rows[absolute.resolve()].title == "Spaced"
    assert table.rows[(tmp_path / "sub" / "b.mp3").resolve()].yandex_track_id is None
    assert table.problems == [
        "line 4: no file name; skipped",
        "line 5: yandex_track_id 'x1' is not a number; ignored",
    ]


def test_yandex_ids_in_the_csv_are_ascii_digits_only(tmp_path: Path) -> None:
    """Arabic-Indic digits and superscripts pass `isdigit()` but make broken links."""
    meta = tmp_path / "meta.csv"
    meta.write_text(HEADER + "a.mp3,A,,,١٢٣,²\nb.mp3,B,,,123,45\n", encoding="utf-8")
    table = read_metadata_csv(meta)
    arabic = table.rows[(tmp_path / "a.mp3").resolve()]
    assert arabic.yandex_track_id is None and arabic.yandex_album_id is None
    assert table.rows[(tmp_path / "b.mp3").resolve()].yandex_track_id == "123"
    assert len(table.problems) == 2


@pytest.mark.parametrize(
    "content",
    ["file,title\na,b\n", "", "name;title;artist\n"],
    ids=["short", "empty", "semicolons"],
)
def test_a_csv_without_the_header_is_refused(tmp_path: Path, content: str) -> None:
    meta = tmp_path / "meta.csv"
    meta.write_text(content)
    with pytest.raises(MetadataFileError, match="header lacks"):
        read_metadata_csv(meta)
    with pytest.raises(MetadataFileError, match="cannot read"):
        read_metadata_csv(tmp_path / "missing.csv")


def test_tags_then_file_name_fill_what_the_csv_leaves(tmp_path: Path) -> None:
    tagged = encode(
        synth_music(3.5),
        tmp_path / "whatever.mp3",
        extra=["-metadata", "title=Tagged Title", "-metadata", "album=Tagged Album"],
    )
    tags = from_tags(tagged)
    assert (tags.title, tags.album, tags.artist) == ("Tagged Title", "Tagged Album", None)
    assert tags.duration == pytest.approx(3.5, abs=0.1)
    meta = tmp_path / "meta.csv"
    meta.write_text(HEADER + "whatever.mp3,,CSV Artist,,42,\n")
    merged = metadata_for(tagged, read_metadata_csv(meta))
    assert (merged.title, merged.artist, merged.album, merged.yandex_track_id) == (
        "Tagged Title",
        "CSV Artist",
        "Tagged Album",
        "42",
    )


def test_file_names() -> None:
    assert from_file_name(Path("Кино - Группа крови.mp3")) == TrackMetadata(
        title="Группа крови", artist="Кино"
    )
    assert from_file_name(Path("01 track.ogg")) == TrackMetadata(title="01 track")
    assert from_file_name(Path(" - odd.mp3")).title == "- odd"
    assert from_tags(Path("/nonexistent.mp3")) == TrackMetadata()


def test_settings_from_environment_values() -> None:
    settings = load_settings({"DATABASE_PATH": "/tmp/x.sqlite3", "WORKERS": "3"})
    assert settings.database_path == Path("/tmp/x.sqlite3") and settings.workers == 3
    assert settings.model.model_id == "fusion:aisfx+msd-vgg/pool5@fe3"
    assert load_settings({}).database_path == Path("data/soundalike.sqlite3")
    with pytest.raises(ConfigError, match="WORKERS"):
        load_settings({"WORKERS": "two"})
