"""What a catalog track is called: from the import CSV, else the file's tags, else its name.

The CSV (UTF-8, header `file,title,artist,album,yandex_track_id,yandex_album_id`, `file`
relative to the CSV's folder or absolute) wins field by field; tags fill what it leaves empty;
"Artist - Title" in the file name fills the rest. Every name, whichever of these (or a
streaming service) it comes from, is kept through `catalog.names.clean_name`.
"""

import csv
from dataclasses import dataclass, fields, replace
from pathlib import Path

import mutagen

from catalog.names import clean_name, stripped
from catalog.numbers import is_ascii_number

CSV_COLUMNS = ("file", "title", "artist", "album", "yandex_track_id", "yandex_album_id")


class MetadataFileError(ValueError):
    """The CSV cannot be used at all (missing, unreadable, wrong header)."""


@dataclass(frozen=True)
class TrackMetadata:
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    yandex_track_id: str | None = None
    yandex_album_id: str | None = None
    duration: float | None = None

    def __post_init__(self) -> None:
        """Names are cleaned on the way in: one rule for the CSV, tags, file names and Yandex
        Music, so that no source can put terminal escapes or 20 KB titles in the catalog."""
        for name in ("title", "artist", "album"):
            object.__setattr__(self, name, clean_name(getattr(self, name)))

    def filled_from(self, other: "TrackMetadata") -> "TrackMetadata":
        """These values, with the gaps filled from `other`."""
        gaps = {
            f.name: getattr(other, f.name) for f in fields(self) if getattr(self, f.name) is None
        }
        return replace(self, **gaps)


@dataclass(frozen=True)
class MetadataTable:
    """The CSV's rows by resolved file path, and the rows it had to reject."""

    rows: dict[Path, TrackMetadata]
    problems: list[str]


def _yandex_id(row: dict[str, str], column: str, line: int, problems: list[str]) -> str | None:
    value = stripped(row.get(column))
    if value is not None and not is_ascii_number(value):
        problems.append(f"line {line}: {column} {value!r} is not a number; ignored")
        return None
    return value


def read_metadata_csv(path: Path) -> MetadataTable:
    """Parse the import CSV. Bad rows are reported in `problems` and skipped, not fatal."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            reader = csv.DictReader(file)
            header = [name.strip() for name in reader.fieldnames or []]
            missing = [c for c in CSV_COLUMNS if c not in header]
            if missing:
                raise MetadataFileError(
                    f"{path}: the header lacks {', '.join(missing)} "
                    f"(expected {','.join(CSV_COLUMNS)})"
                )
            reader.fieldnames = header
            rows: dict[Path, TrackMetadata] = {}
            problems: list[str] = []
            for row in reader:
                line = reader.line_num
                name = stripped(row.get("file"))
                if name is None:
                    problems.append(f"line {line}: no file name; skipped")
                    continue
                file_path = Path(name).expanduser()
                if not file_path.is_absolute():
                    file_path = path.parent / file_path
                rows[file_path.resolve()] = TrackMetadata(
                    title=row.get("title"),
                    artist=row.get("artist"),
                    album=row.get("album"),
                    yandex_track_id=_yandex_id(row, "yandex_track_id", line, problems),
                    yandex_album_id=_yandex_id(row, "yandex_album_id", line, problems),
                )
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise MetadataFileError(f"cannot read {path}: {error}") from error
    return MetadataTable(rows, problems)


def from_tags(path: Path) -> TrackMetadata:
    """Title, artist, album and duration from the file's own tags (empty when it has none)."""
    try:
        audio = mutagen.File(path, easy=True)
    except Exception:  # mutagen raises many types for odd files, and tags are optional
        return TrackMetadata()
    if audio is None:
        return TrackMetadata()

    def first(key: str) -> str | None:
        values = (audio.tags or {}).get(key) or []
        return str(values[0]) if values else None

    length = getattr(audio.info, "length", None)
    return TrackMetadata(
        title=first("title"),
        artist=first("artist"),
        album=first("album"),
        duration=float(length) if length else None,
    )


def from_file_name(path: Path) -> TrackMetadata:
    """ "Artist - Title.mp3" → artist and title; any other name → the name as the title."""
    artist, separator, title = path.stem.partition(" - ")
    named = TrackMetadata(title=title, artist=artist)
    if separator and named.title and named.artist:
        return named
    return TrackMetadata(title=clean_name(path.stem) or path.name)


def artist_of(path: Path, sent_as: str | None) -> str | None:
    """Whose track a user's file is, as far as it says: its artist tag, else "Artist - Title"
    in the name it was sent under (what "other artists only" leaves out)."""
    artist = from_tags(path).artist
    if artist is None and sent_as:
        artist = from_file_name(Path(Path(sent_as).name)).artist
    return artist


def metadata_for(path: Path, table: MetadataTable | None) -> TrackMetadata:
    """The CSV row for `path`, completed from its tags and then its file name."""
    row = table.rows.get(path.resolve(), TrackMetadata()) if table else TrackMetadata()
    return row.filled_from(from_tags(path)).filled_from(from_file_name(path))
