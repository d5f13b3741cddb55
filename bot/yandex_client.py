"""Yandex Music through the `yandex-music` library (ClientAsync): listings, downloads, search.

The library sends one request per call and never retries; its errors carry the HTTP status only
inside the message text ("... (429): b'...'"), and its default timeout is 5 s. A long import
needs more, so this wrapper adds: retries with exponential backoff on 429, 5xx, timeouts and
dropped connections; a fresh download-info (and so a fresh signed link, which expires after about
a minute) for every download attempt; a bound on simultaneous downloads; explicit timeouts; and
TLS trust from SSL_CERT_FILE / REQUESTS_CA_BUNDLE. Errors leave here as three plain types whose
messages never contain the token or a response body.
"""

import asyncio
import logging
import os
import random
import re
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from yandex_music import ClientAsync, DownloadInfo, Playlist, TrackShort
from yandex_music import Track as ApiTrack
from yandex_music.exceptions import (
    BadRequestError,
    NetworkError,
    NotFoundError,
    TimedOutError,
    UnauthorizedError,
    YandexMusicError,
)

from bot.links import yandex_music_url
from bot.yandex_links import (
    AlbumLink,
    ArtistLink,
    ChartLink,
    LikedTracks,
    PlaylistLink,
    Target,
    TrackLink,
    UserPlaylistLink,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# The model listens to 16 kHz mono, i.e. nothing above 8 kHz. Full-track re-encodes at 128 kbps
# score ≥ 0.986 (median 0.999) against their originals (README, "Already in the catalog"), so
# 128 kbps loses nothing the model hears; higher bitrates only cost bandwidth.
MIN_MP3_KBPS = 128
POPULAR_TRACKS = 20  # an artist link without --all: the first page of the artist's tracks
ARTIST_PAGE = 100  # page size when paging through all of an artist's tracks
TRACKS_PER_REQUEST = 100  # ids per POST /tracks when a listing has ids only
TOKEN_HELP = (
    "get an OAuth token of a Yandex account (Yandex Plus for full tracks) as the README's "
    "'Building the catalog from Yandex Music' describes, and put it in .env as YANDEX_MUSIC_TOKEN"
)
_STATUS = re.compile(r"\((\d{3})\): b['\"]")  # "message (500): b'body'", the library's format


class YandexAccessError(Exception):
    """No token, or the server rejected it: the operator must act (exit status 2)."""


class UnavailableError(Exception):
    """The track cannot be downloaded: region, rights, removed, or a preview only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class YandexCallError(Exception):
    """A call failed for good (after its retries, or at once when retrying cannot help)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class YandexTrack:
    """What the catalog stores about a Yandex Music track, from the API's metadata."""

    track_id: str
    album_id: str | None
    title: str
    artist: str | None
    album: str | None
    duration: float | None  # seconds
    unavailable: str | None = None  # why it cannot be downloaded, when the listing says so
    bare_title: str | None = None  # the title without its version, for matching local files
    artists: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return yandex_music_url(track_id=self.track_id, album_id=self.album_id)

    @property
    def label(self) -> str:
        """`Artist — Title (https://music.yandex.ru/album/A/track/T)` for summaries."""
        name = f"{self.artist} — {self.title}" if self.artist else self.title
        return f"{name} ({self.url})"


def title_with_version(title: str, version: str | None) -> str:
    """`Song (Live)`: the version tells recordings apart that share a title."""
    version = (version or "").strip()
    if version and version.casefold() not in title.casefold():
        return f"{title} ({version})"
    return title


def from_api(track: ApiTrack, album_id: str | None = None) -> YandexTrack:
    """Our record of an API track; `album_id` from the link wins over the track's first album."""
    album = track.albums[0] if track.albums else None
    if album_id is None and album is not None and album.id is not None:
        album_id = str(album.id)
    unavailable = None
    if track.error:
        unavailable = f"removed ({track.error})"
    elif track.available is False:
        unavailable = "not available (region or rights)"
    names = track.artists_name()
    return YandexTrack(
        track_id=str(track.id),
        album_id=album_id,
        title=title_with_version(track.title or f"track {track.id}", track.version),
        artist=", ".join(names) or None,
        album=album.title if album is not None else None,
        duration=track.duration_ms / 1000 if track.duration_ms else None,
        unavailable=unavailable,
        bare_title=track.title,
        artists=tuple(names),
    )


def choose_download(infos: Iterable[DownloadInfo]) -> DownloadInfo:
    """The smallest full mp3 of at least MIN_MP3_KBPS, else the largest full mp3 offered."""
    infos = list(infos)
    full = [i for i in infos if i.codec == "mp3" and not i.preview and i.bitrate_in_kbps]
    if not full:
        if any(i.preview for i in infos):
            raise UnavailableError("only a 30-second preview is offered (no Plus on the account?)")
        raise UnavailableError("no mp3 is offered for download")
    enough = [i for i in full if i.bitrate_in_kbps >= MIN_MP3_KBPS]
    if enough:
        return min(enough, key=lambda i: i.bitrate_in_kbps)
    return max(full, key=lambda i: i.bitrate_in_kbps)


def http_status(error: YandexMusicError) -> int | None:
    """The HTTP status the library buried in an error's text, where it kept one."""
    text = str(error)
    if text == "Bad Gateway":  # the library's whole message for a 502
        return 502
    found = _STATUS.search(text)
    return int(found.group(1)) if found else None


def is_transient(error: YandexMusicError) -> bool:
    """Worth retrying: 429, 5xx, an expired link (410), a timeout or a dropped connection."""
    if isinstance(error, TimedOutError):
        return True
    if isinstance(error, UnauthorizedError | BadRequestError | NotFoundError):
        return False
    if not isinstance(error, NetworkError):
        return False
    status = http_status(error)
    if status is not None:
        return status in (410, 429) or 500 <= status < 600
    return error.__cause__ is not None  # aiohttp's connection errors, wrapped by the library


def reason_of(error: YandexMusicError) -> str:
    """A short reason without the response body (which may be long, or echo a request)."""
    if isinstance(error, TimedOutError):
        return "timed out"
    status = http_status(error)
    if status is not None:
        return f"HTTP {status}"
    if isinstance(error, NotFoundError):
        return "not found"
    if isinstance(error, NetworkError) and error.__cause__ is not None:
        return f"connection failed ({type(error.__cause__).__name__})"
    return type(error).__name__


def ssl_context(environ: Mapping[str, str] = os.environ) -> ssl.SSLContext | None:
    """Trust from SSL_CERT_FILE or REQUESTS_CA_BUNDLE when set; None: the system's defaults."""
    cafile = environ.get("SSL_CERT_FILE") or environ.get("REQUESTS_CA_BUNDLE")
    return ssl.create_default_context(cafile=cafile) if cafile else None


def ca_bundle_pem(environ: Mapping[str, str] = os.environ) -> str | None:
    """The CA bundle SSL_CERT_FILE or REQUESTS_CA_BUNDLE names, as PEM text (for Ray actors
    that download on other machines, so they trust what this process trusts); None if unset."""
    cafile = environ.get("SSL_CERT_FILE") or environ.get("REQUESTS_CA_BUNDLE")
    return Path(cafile).read_text() if cafile else None


def _ignore_schema_mismatch(mismatch: object) -> None:
    """The API adds fields often; the library's warning would clutter the operator's screen."""
    log.debug("schema mismatch: %s", mismatch)


class YandexMusic:
    """The calls the importer and the linker make, each retried; downloads bounded."""

    def __init__(
        self,
        token: str | None,
        api_url: str,
        *,
        timeout: float = 20.0,
        download_timeout: float = 180.0,
        attempts: int = 5,
        backoff: float = 1.0,
        downloads: int = 3,
    ) -> None:
        self.has_token = bool(token)
        self.timeout = timeout
        self.download_timeout = download_timeout
        self.attempts = attempts
        self.backoff = backoff
        self._downloads = asyncio.Semaphore(downloads)
        self._account_uid: int | None = None
        context = ssl_context()
        self._extra: dict[str, Any] = {"ssl": context} if context is not None else {}
        self._client = ClientAsync(
            token or None, base_url=api_url, on_schema_mismatch=_ignore_schema_mismatch
        )

    def __repr__(self) -> str:  # the library's client holds the token; never show it
        return f"YandexMusic(api_url={self._client.base_url!r})"

    def _delay(self, attempt: int) -> float:
        """Exponential backoff with jitter: 1, 2, 4, 8 s… (× backoff), capped at 30 s."""
        return min(30.0, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.75, 1.25)

    async def _retry(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return await call()
            except YandexMusicError as error:
                if isinstance(error, UnauthorizedError):
                    raise self._refused(what) from None
                if not is_transient(error):
                    raise YandexCallError(f"{what}: {reason_of(error)}") from None
                if attempt == self.attempts:
                    raise YandexCallError(
                        f"{what}: {reason_of(error)} (gave up after {attempt} attempts)"
                    ) from None
                log.info("%s: %s, retrying", what, reason_of(error))
                await asyncio.sleep(self._delay(attempt))
        raise AssertionError("unreachable")

    def _refused(self, what: str) -> Exception:
        if self.has_token:
            return UnavailableError(f"{what}: refused by the server (account, region or rights)")
        return YandexAccessError(f"{what} needs YANDEX_MUSIC_TOKEN, which is not set: {TOKEN_HELP}")

    def require_token(self) -> None:
        if not self.has_token:
            raise YandexAccessError(
                f"YANDEX_MUSIC_TOKEN is not set; downloads and likes need it: {TOKEN_HELP}"
            )

    async def check_token(self) -> int:
        """The account's uid; YandexAccessError if there is no token or the server rejects it."""
        self.require_token()
        if self._account_uid is not None:
            return self._account_uid

        async def status() -> Any:
            return await self._client.account_status(timeout=self.timeout, **self._extra)

        try:
            found = await self._retry("account status", status)
        except UnavailableError:  # 401/403 on our own account: the token itself is bad
            found = None
        uid = found.account.uid if found is not None and found.account is not None else None
        if uid is None:
            raise YandexAccessError(
                f"YANDEX_MUSIC_TOKEN was rejected by the server (expired or revoked): {TOKEN_HELP}"
            )
        self._account_uid = int(uid)
        return self._account_uid

    # listings

    async def tracks_for(
        self, target: Target, *, all_artist_tracks: bool = False, limit: int | None = None
    ) -> list[YandexTrack]:
        """The tracks a link names, in the order the service lists them."""
        match target:
            case AlbumLink(album_id):
                return await self._album(album_id)
            case TrackLink(track_id, album_id):
                tracks = await self._tracks([track_id], f"track {track_id}")
                return [from_api(t, album_id) for t in tracks]
            case ArtistLink(artist_id):
                return await self._artist(artist_id, all_artist_tracks, limit)
            case UserPlaylistLink(owner, kind):
                return await self._user_playlist(owner, kind)
            case PlaylistLink(uuid):
                return await self._playlist_by_uuid(uuid)
            case ChartLink():
                return await self._chart()
            case LikedTracks():
                return await self._liked()
        raise AssertionError(target)

    async def _album(self, album_id: str) -> list[YandexTrack]:
        async def call() -> Any:
            return await self._client.albums_with_tracks(
                album_id, timeout=self.timeout, **self._extra
            )

        album = await self._retry(f"album {album_id}", call)
        if album is None:
            raise YandexCallError(f"album {album_id}: not found")
        return [from_api(t, album_id) for volume in album.volumes or [] for t in volume]

    async def _tracks(self, ids: list[str], what: str) -> list[ApiTrack]:
        """Full tracks for ids (`123` or `123:456`), a hundred per request."""
        found: list[ApiTrack] = []
        for start in range(0, len(ids), TRACKS_PER_REQUEST):
            chunk = ids[start : start + TRACKS_PER_REQUEST]

            async def call(chunk: list[str] = chunk) -> Any:
                return await self._client.tracks(chunk, timeout=self.timeout, **self._extra)

            found.extend(await self._retry(what, call))
        if not found and ids:
            raise YandexCallError(f"{what}: not found")
        return found

    async def _artist(
        self, artist_id: str, everything: bool, limit: int | None
    ) -> list[YandexTrack]:
        size = ARTIST_PAGE if everything else POPULAR_TRACKS
        tracks: list[YandexTrack] = []
        page = 0
        while True:

            async def call(page: int = page) -> Any:
                return await self._client.artists_tracks(
                    artist_id, page, size, timeout=self.timeout, **self._extra
                )

            found = await self._retry(f"artist {artist_id}", call)
            if found is None:
                raise YandexCallError(f"artist {artist_id}: not found")
            tracks.extend(from_api(t) for t in found.tracks)
            total = found.pager.total if found.pager is not None else len(tracks)
            page += 1
            if (
                not everything
                or not found.tracks
                or len(tracks) >= total
                or (limit is not None and len(tracks) >= limit)
            ):
                return tracks

    async def _from_shorts(self, shorts: list[TrackShort], what: str) -> list[YandexTrack]:
        """Playlist entries come with full tracks, except when the server leaves them out."""
        missing = [s.track_id for s in shorts if s.track is None]
        fetched = {str(t.id): t for t in await self._tracks(missing, what)} if missing else {}
        tracks: list[YandexTrack] = []
        for short in shorts:
            track = short.track or fetched.get(str(short.id).partition(":")[0])
            if track is not None:
                tracks.append(from_api(track, str(short.album_id) if short.album_id else None))
        return tracks

    async def _playlist(self, what: str, call: Callable[[], Awaitable[Any]]) -> list[YandexTrack]:
        playlist = await self._retry(what, call)
        if not isinstance(playlist, Playlist):
            raise YandexCallError(f"{what}: not found")
        return await self._from_shorts(list(playlist.tracks or []), what)

    async def _user_playlist(self, owner: str, kind: str) -> list[YandexTrack]:
        async def call() -> Any:
            return await self._client.users_playlists(
                kind, owner, timeout=self.timeout, **self._extra
            )

        return await self._playlist(f"playlist {owner}/{kind}", call)

    async def _playlist_by_uuid(self, uuid: str) -> list[YandexTrack]:
        async def call() -> Any:
            return await self._client.playlist(uuid, timeout=self.timeout, **self._extra)

        return await self._playlist(f"playlist {uuid}", call)

    async def _chart(self) -> list[YandexTrack]:
        async def call() -> Any:
            return await self._client.chart(timeout=self.timeout, **self._extra)

        chart = await self._retry("chart", call)
        if chart is None or chart.chart is None:
            raise YandexCallError("chart: not found")
        return await self._from_shorts(list(chart.chart.tracks or []), "chart")

    async def _liked(self) -> list[YandexTrack]:
        uid = await self.check_token()

        async def call() -> Any:
            return await self._client.users_likes_tracks(uid, timeout=self.timeout, **self._extra)

        likes = await self._retry("liked tracks", call)
        if likes is None:
            return []
        return await self._from_shorts(list(likes.tracks or []), "liked tracks")

    # downloads

    async def _link(self, track: YandexTrack) -> str:
        """A fresh signed link to the track's chosen mp3 (it expires after about a minute)."""
        try:
            infos = await self._client.tracks_download_info(
                track.track_id, timeout=self.timeout, **self._extra
            )
        except NotFoundError:
            raise UnavailableError("removed (no download information)") from None
        chosen = choose_download(infos)
        link: str = await chosen.get_direct_link_async(self.timeout, **self._extra)
        return link

    async def direct_link(self, track: YandexTrack) -> str:
        """A fresh direct link to the track's mp3, for someone else to download (a Ray actor):
        API calls only, retried like every call."""
        self.require_token()
        return await self._retry(
            f"download link of track {track.track_id}", lambda: self._link(track)
        )

    def retry_delay(self, attempt: int) -> float:
        """The pause before another attempt after `attempt` failed ones (backoff, jitter)."""
        return self._delay(attempt)

    async def download(self, track: YandexTrack, folder: Path) -> Path:
        """The track's mp3 in `folder`; every attempt asks for a fresh download-info and link."""
        self.require_token()
        what = f"download of track {track.track_id}"

        async def attempt() -> bytes:
            link = await self._link(track)
            data: bytes = await self._client.request.retrieve(
                link, timeout=self.download_timeout, **self._extra
            )
            return data

        async with self._downloads:
            data = await self._retry(what, attempt)
        if not data:
            raise YandexCallError(f"{what}: the server sent an empty file")
        path = folder / f"{track.track_id}.mp3"
        partial = path.with_suffix(".part")
        await asyncio.to_thread(partial.write_bytes, data)
        partial.replace(path)
        return path

    # search

    async def search_tracks(self, text: str) -> list[YandexTrack]:
        """The first page of track results for `text` (works without a token)."""

        async def call() -> Any:
            return await self._client.search(
                text, type_="track", timeout=self.timeout, **self._extra
            )

        found = await self._retry(f"search {text!r}", call)
        if found is None or found.tracks is None:
            return []
        return [from_api(t) for t in found.tracks.results]
