"""Links from a catalog track to Yandex Music.

The most precise link the stored ids allow: the track inside its album, the bare track, or — when
no id is known — a search for "artist title". Search text is encoded with `quote_plus` (spaces as
"+", the form encoding of query strings), so "&", "/", "?" and "#" in a title stay part of it.
"""

from urllib.parse import quote_plus

from catalog.names import stripped
from catalog.numbers import is_ascii_number
from storage import Track

YANDEX_MUSIC = "https://music.yandex.ru"


def _id(value: str | int | None) -> str | None:
    """A Yandex id as ASCII digits, or None: "١٢٣" or "12a" would make a link to nowhere, so
    such an id counts as unknown and the link falls back to a search."""
    text = stripped(value)
    return text if text is not None and is_ascii_number(text) else None


def yandex_music_url(
    *,
    track_id: str | int | None = None,
    album_id: str | int | None = None,
    artist: str | None = None,
    title: str | None = None,
) -> str:
    """The Yandex Music page of a track.

    album and track id → /album/{album}/track/{track}; track id only → /track/{track};
    no track id (an album id alone does not name the track) → /search?text=artist+title.
    """
    track = _id(track_id)
    album = _id(album_id)
    if track is not None:
        track_part = f"/track/{track}"
        if album is not None:
            return f"{YANDEX_MUSIC}/album/{album}{track_part}"
        return f"{YANDEX_MUSIC}{track_part}"
    text = " ".join(part for part in (stripped(artist), stripped(title)) if part)
    return f"{YANDEX_MUSIC}/search?text={quote_plus(text)}"


def track_url(track: Track) -> str:
    """The most precise Yandex Music link the catalog track's ids allow."""
    return yandex_music_url(
        track_id=track.yandex_track_id,
        album_id=track.yandex_album_id,
        artist=track.artist,
        title=track.title,
    )


def display_name(track: Track) -> str:
    """`Artist — Title`, or the title alone."""
    return f"{track.artist} — {track.title}" if track.artist else track.title
