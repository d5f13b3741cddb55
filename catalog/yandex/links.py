"""Yandex Music links as operators paste them, parsed into what to import.

Pure: no network. Every link is checked before anything is fetched, so a typo in the fifth link
of a command line costs nothing; the error names the link and the forms that are understood.
"""

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

HOSTS = frozenset({"music.yandex.ru", "music.yandex.com", "music.yandex.by", "music.yandex.kz"})

LINK_FORMS = (
    "https://music.yandex.ru/album/ALBUM",
    "https://music.yandex.ru/album/ALBUM/track/TRACK",
    "https://music.yandex.ru/track/TRACK",
    "https://music.yandex.ru/artist/ARTIST",
    "https://music.yandex.ru/users/LOGIN/playlists/KIND",
    "https://music.yandex.ru/playlists/UUID",
    "https://music.yandex.ru/chart",
)


@dataclass(frozen=True)
class AlbumLink:
    album_id: str


@dataclass(frozen=True)
class TrackLink:
    track_id: str
    album_id: str | None = None


@dataclass(frozen=True)
class ArtistLink:
    artist_id: str


@dataclass(frozen=True)
class UserPlaylistLink:
    owner: str  # the login (or numeric uid) in the link
    kind: str


@dataclass(frozen=True)
class PlaylistLink:
    uuid: str


@dataclass(frozen=True)
class ChartLink:
    pass


@dataclass(frozen=True)
class LikedTracks:
    """`--liked`: the token owner's liked tracks (not a link, but imported the same way)."""


Target = (
    AlbumLink | TrackLink | ArtistLink | UserPlaylistLink | PlaylistLink | ChartLink | LikedTracks
)


class LinkError(ValueError):
    """A link that is not one of the understood Yandex Music forms; the message says why."""


_ID = r"([0-9]{1,12})"  # ASCII digits only: `\d` takes "١٢٣" too
_LOGIN = r"([A-Za-z0-9][A-Za-z0-9._-]{0,63})"
# New-style playlists: a UUID, sometimes behind a short prefix such as "lk." or "ar.".
_HEX = "[0-9a-fA-F]"
_UUID = rf"((?:[A-Za-z]{{2,3}}\.)?{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}})"
_PATHS: tuple[tuple[re.Pattern[str], type], ...] = (
    (re.compile(rf"/album/{_ID}/track/{_ID}"), TrackLink),
    (re.compile(rf"/album/{_ID}"), AlbumLink),
    (re.compile(rf"/track/{_ID}"), TrackLink),
    (re.compile(rf"/artist/{_ID}(?:/tracks)?"), ArtistLink),
    (re.compile(rf"/users/{_LOGIN}/playlists/{_ID}"), UserPlaylistLink),
    (re.compile(rf"/playlists/{_UUID}"), PlaylistLink),
    (re.compile(r"/chart(?:/tracks)?"), ChartLink),
)


def parse_link(text: str) -> Target:
    """The import target a pasted link names; LinkError if it names none."""
    raw = text.strip()
    if not raw:
        raise LinkError("empty link")
    with_scheme = raw if "://" in raw else f"https://{raw}"
    try:
        parts = urlsplit(with_scheme)
        port = parts.port  # links as pasted never name a port; a bad one raises here
    except ValueError as error:
        raise LinkError(f"{raw}: not a link ({error})") from error
    host = (parts.hostname or "").lower().removeprefix("www.")
    if parts.scheme not in ("http", "https") or host not in HOSTS or port:
        raise LinkError(f"{raw}: not a Yandex Music link (music.yandex.ru, .com, .by or .kz)")
    path = parts.path.rstrip("/") or "/"
    for pattern, kind in _PATHS:
        found = pattern.fullmatch(path)
        if found is None:
            continue
        groups = found.groups()
        if kind is TrackLink and len(groups) == 2:
            return TrackLink(track_id=groups[1], album_id=groups[0])
        return kind(*groups)
    raise LinkError(f"{raw}: not a link to an album, track, artist, playlist or the chart")


# A Yandex Music address inside free text (a chat message: "слушай https://music.yandex.ru/…!")
_IN_TEXT = re.compile(
    r"(?:https?://)?(?:www\.)?music\.yandex\.(?:ru|com|by|kz)(?![\w.-])[^\s<>\"'«»]*", re.IGNORECASE
)
_TRAILING = ".,;:!?)]}…"  # sentence punctuation after a link is not part of it


def links_in(text: str) -> list[str]:
    """The Yandex Music addresses in `text`, in order, without the sentence's punctuation."""
    return [match.group(0).rstrip(_TRAILING) for match in _IN_TEXT.finditer(text)]


def parse_links(texts: list[str]) -> list[Target]:
    """All links parsed, or one LinkError naming every link that is not understood."""
    targets: list[Target] = []
    problems: list[str] = []
    for text in texts:
        try:
            targets.append(parse_link(text))
        except LinkError as error:
            problems.append(str(error))
    if problems:
        raise LinkError("; ".join(problems))
    return targets


def describe(target: Target) -> str:
    """A short name for progress lines and failures: `album 123`, `chart`, `liked tracks`."""
    match target:
        case AlbumLink(album_id):
            return f"album {album_id}"
        case TrackLink(track_id, _):
            return f"track {track_id}"
        case ArtistLink(artist_id):
            return f"artist {artist_id}"
        case UserPlaylistLink(owner, kind):
            return f"playlist {owner}/{kind}"
        case PlaylistLink(uuid):
            return f"playlist {uuid}"
        case ChartLink():
            return "chart"
        case LikedTracks():
            return "liked tracks"
    raise AssertionError(target)
