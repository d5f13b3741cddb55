"""Yandex Music through the `yandex-music` library (ClientAsync): listings, downloads, search.

The library sends one request per call and never retries; its errors carry the HTTP status only
inside the message text ("... (429): b'...'"), and its default timeout is 5 s. A long import
needs more, so this wrapper adds: retries with exponential backoff on 429, 5xx, timeouts and
dropped connections; a fresh download-info (and so a fresh signed link, which expires after about
a minute) for every download attempt, the audio fetched and embedded by the embedder
(`YandexMusic.embed`); explicit timeouts; and TLS trust from SSL_CERT_FILE / REQUESTS_CA_BUNDLE.
Errors leave here as three plain types whose messages never contain the token or a response
body.

An answer is data from outside, whoever sent it: every id in it is checked (ASCII digits, in
range) before it is used, names are cleaned (catalog.names), a malformed answer is a failure that
says what was wrong, and audio streams to a file within core.fetching's limits (size, deadline,
minimum rate, https never downgraded: core.fetching), never whole into memory.
"""

import asyncio
import logging
import os
import random
import re
import ssl
import time
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

from catalog.links import yandex_music_url
from catalog.names import clean_name, printable
from catalog.numbers import SQLITE_INT_MAX, parse_number
from catalog.yandex.links import (
    AlbumLink,
    ArtistLink,
    ChartLink,
    LikedTracks,
    PlaylistLink,
    Target,
    TrackLink,
    UserPlaylistLink,
)
from core.embedding_service import Embedder, Fetched
from core.fetching import (
    FetchError,
    FetchLimits,
    refused_redirect,
    status_is_transient,
    stream,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

# The model listens to 16 kHz mono, i.e. nothing above 8 kHz. Full-track re-encodes at 128 kbps
# score ≥ 0.986 (median 0.999) against their originals (docs/catalog.md, "Already in the
# catalog"), so 128 kbps loses nothing the model hears; higher bitrates only cost bandwidth.
MIN_MP3_KBPS = 128
POPULAR_TRACKS = 20  # an artist link without --all: the first page of the artist's tracks
ARTIST_PAGE = 100  # page size when paging through all of an artist's tracks
TRACKS_PER_REQUEST = 100  # ids per POST /tracks when a listing has ids only
TOKEN_HELP = (
    "get an OAuth token of a Yandex account (Yandex Plus for full tracks) as the README's "
    "'Building the catalog from Yandex Music' describes, and put it in .env as YANDEX_MUSIC_TOKEN"
)
_STATUS = re.compile(r"\((\d{3})\): b['\"]")  # "message (500): b'body'", the library's format
DEFAULT_LIMITS = FetchLimits()
# what the library raises while turning an answer of the wrong shape into its models
_SHAPE_ERRORS = (TypeError, KeyError, AttributeError, ValueError, IndexError)


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


class BadAnswerError(Exception):
    """A field of an API answer is not what the API sends (an id that is a path, say)."""


def checked_id(value: object, what: str) -> str:
    """An id from an answer as the canonical ASCII digits (1 … 2^63-1), or BadAnswerError.

    Ids become file names and URLs: "/etc/passwd", "../x", "١٢٣" or a 30-digit number must
    never be used as one.
    """
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else None
    number = parse_number(text, 1, SQLITE_INT_MAX) if text is not None else None
    if number is None:
        shown = printable(repr(value)[:40])
        raise BadAnswerError(f"the answer's {what} id {shown} is not a Yandex id (ASCII digits)")
    return str(number)


@dataclass(frozen=True)
class YandexTrack:
    """What the catalog stores about a Yandex Music track, from the API's metadata.

    `problem`: the answer describing it was malformed (its ids are then empty, never used).
    """

    track_id: str
    album_id: str | None
    title: str
    artist: str | None
    album: str | None
    duration: float | None  # seconds
    unavailable: str | None = None  # why it cannot be downloaded, when the listing says so
    bare_title: str | None = None  # the title without its version, for matching local files
    artists: tuple[str, ...] = ()
    problem: str | None = None

    @property
    def url(self) -> str:
        return yandex_music_url(track_id=self.track_id, album_id=self.album_id)

    @property
    def label(self) -> str:
        """`Artist — Title (https://music.yandex.ru/album/A/track/T)` for summaries."""
        name = f"{self.artist} — {self.title}" if self.artist else self.title
        return f"{name} ({self.url})" if self.problem is None else name


def title_with_version(title: str, version: str | None) -> str:
    """`Song (Live)`: the version tells recordings apart that share a title."""
    version = (version or "").strip()
    if version and version.casefold() not in title.casefold():
        return f"{title} ({version})"
    return title


def from_api(track: ApiTrack, album_id: str | None = None) -> YandexTrack:
    """Our record of an API track; `album_id` from the link wins over the track's first album.

    Names are cleaned here, at ingestion; a malformed id makes a track with a `problem`.
    """
    album = track.albums[0] if track.albums else None
    names = [n for n in (clean_name(name) for name in track.artists_name()) if n]
    bare_title = clean_name(track.title)
    title = clean_name(title_with_version(bare_title or "", clean_name(track.version)))
    try:
        track_id = checked_id(track.id, "track")
        if album_id is None and album is not None and album.id is not None:
            album_id = checked_id(album.id, "album")
    except BadAnswerError as error:
        return YandexTrack(
            "", None, title or "a track", ", ".join(names) or None, None, None, problem=str(error)
        )
    unavailable = None
    if track.error:
        unavailable = f"removed ({clean_name(track.error, 80)})"
    elif track.available is False:
        unavailable = "not available (region or rights)"
    duration = track.duration_ms / 1000 if isinstance(track.duration_ms, int | float) else None
    return YandexTrack(
        track_id=track_id,
        album_id=album_id,
        title=title or f"track {track_id}",
        artist=", ".join(names) or None,
        album=clean_name(album.title) if album is not None else None,
        duration=duration if duration and duration > 0 else None,
        unavailable=unavailable,
        bare_title=bare_title,
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
        return status_is_transient(status)  # the one rule: 410, 429, 5xx
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
    if type(error) is YandexMusicError:  # the library's word for an answer it cannot read
        return f"malformed answer ({str(error)[:100] or 'unreadable'})"
    return f"{type(error).__name__} ({str(error)[:100]})" if str(error) else type(error).__name__


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
        limits: FetchLimits = DEFAULT_LIMITS,
        attempts: int = 5,
        backoff: float = 1.0,
    ) -> None:
        self.has_token = bool(token)
        self.timeout = timeout
        self.limits = limits  # of each track's download: size, deadline, minimum rate
        self.attempts = attempts
        self.backoff = backoff
        # read once: the CA bundle this process trusts goes with each fetch, to the local
        # pool's and to Ray actors on other machines, so they trust what this process trusts
        self.ca_pem = ca_bundle_pem()
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

    async def _retry(
        self, what: str, call: Callable[[], Awaitable[T]], deadline: float | None = None
    ) -> T:
        """`call` until it succeeds, fails for good, runs out of attempts or passes `deadline`
        (a time.monotonic() value). A download's fetch raises FetchError, retried alike."""
        for attempt in range(1, self.attempts + 1):
            try:
                return await call()
            except UnauthorizedError:
                raise await self._refused(what) from None
            except YandexMusicError as error:
                transient, reason = is_transient(error), reason_of(error)
            except FetchError as error:
                transient, reason = error.transient, error.reason
            except _SHAPE_ERRORS as error:  # the library choked on an answer of the wrong shape
                raise YandexCallError(
                    f"{what}: malformed answer ({type(error).__name__}: {str(error)[:100]})"
                ) from None
            if not transient:
                raise YandexCallError(f"{what}: {reason}") from None
            pause = self._delay(attempt)
            if attempt == self.attempts or (
                deadline is not None and time.monotonic() + pause >= deadline
            ):
                raise YandexCallError(
                    f"{what}: {reason} (gave up after {attempt} attempts)"
                ) from None
            log.info("%s: %s, retrying", what, reason)
            await asyncio.sleep(pause)
        raise AssertionError("unreachable")

    async def _refused(self, what: str) -> Exception:
        """401/403. Without a token: it needs one. With a token the server accepted: asked
        again, the account itself is refused when the token was revoked meanwhile (the run must
        stop), and only this item is refused otherwise (account, region or rights)."""
        if not self.has_token:
            return YandexAccessError(
                f"{what} needs YANDEX_MUSIC_TOKEN, which is not set: {TOKEN_HELP}"
            )
        if self._account_uid is not None:
            try:
                await self._client.account_status(timeout=self.timeout, **self._extra)
            except UnauthorizedError:
                return YandexAccessError(
                    f"YANDEX_MUSIC_TOKEN was rejected by the server during the run (expired or "
                    f"revoked): {TOKEN_HELP}"
                )
            except YandexMusicError:
                pass  # cannot tell; the item alone is refused
        return UnavailableError(f"{what}: refused by the server (account, region or rights)")

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
        except YandexAccessError:  # revoked since an earlier check
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
        """Playlist entries come with full tracks, except when the server leaves them out.
        Their ids are checked before they are asked for or used."""
        entries: list[tuple[TrackShort, str, str | None] | YandexTrack] = []
        for short in shorts:
            try:
                track_id = checked_id(str(short.id).partition(":")[0], "track")
                album_id = checked_id(short.album_id, "album") if short.album_id else None
            except BadAnswerError as error:
                entries.append(YandexTrack("", None, "a playlist entry", None, None, None,
                                           problem=str(error)))  # fmt: skip
                continue
            entries.append((short, track_id, album_id))
        missing = [
            f"{entry[1]}:{entry[2]}" if entry[2] else entry[1]
            for entry in entries
            if not isinstance(entry, YandexTrack) and entry[0].track is None
        ]
        fetched: dict[str, ApiTrack] = {}
        for track in await self._tracks(missing, what) if missing else []:
            fetched.setdefault(str(track.id), track)  # a malformed id matches no entry
        tracks: list[YandexTrack] = []
        for entry in entries:
            if isinstance(entry, YandexTrack):
                tracks.append(entry)
                continue
            short, track_id, album_id = entry
            found = short.track or fetched.get(track_id)
            if found is not None:
                tracks.append(from_api(found, album_id))
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
        refused = refused_redirect(self._client.base_url, str(chosen.download_info_url))
        if refused is not None:  # an https API never sends us to plain http for the signature
            raise FetchError(f"download information {refused}", transient=False)
        link: str = await chosen.get_direct_link_async(self.timeout, **self._extra)
        return link

    async def direct_link(self, track: YandexTrack) -> str:
        """A fresh direct link to the track's mp3, for someone else to download (a Ray actor):
        API calls only, retried like every call."""
        self.require_token()
        return await self._retry(
            f"download link of track {track.track_id}", lambda: self._link(track)
        )

    async def embed(self, track: YandexTrack, embedder: Embedder, into: Path | None) -> Fetched:
        """The track's mp3 embedded where the embedder fetches it (core.embedding_service:
        the local pool streams it into `into`, a Ray actor downloads it itself).

        Every attempt asks for a fresh download-info and link (a signed link expires after
        about a minute); a failed fetch is retried by the one rule of `_retry` (timeouts,
        dropped connections, 410, 429, 5xx), all attempts together within `limits.deadline`
        seconds. Embedding failures (core.embedding_service.EMBED_FAILURES) are not retried.
        """
        limits = self.limits
        return await self._fetched(
            track,
            limits,
            lambda link, seconds: embedder.embed_url(
                link, limits=limits, deadline=seconds, ca_pem=self.ca_pem, into=into
            ),
        )

    async def download(
        self, track: YandexTrack, into: Path, limits: FetchLimits | None = None
    ) -> tuple[str, int]:
        """The track's mp3 streamed into `into` (sha256, size), for a caller that analyses the
        file itself (the chat's question): fetched as `embed` fetches, within `limits` (to cap
        it tighter than an import, e.g. at the chat's file size)."""
        limits = limits or self.limits
        return await self._fetched(
            track, limits, lambda link, seconds: stream(link, into, limits, self.ca_pem, seconds)
        )

    async def _fetched(
        self,
        track: YandexTrack,
        limits: FetchLimits,
        fetch: Callable[[str, float], Awaitable[T]],
    ) -> T:
        """`fetch(link, seconds left)` with a fresh signed link for every attempt, retried by
        `_retry`'s rule, all attempts together within `limits.deadline` seconds."""
        self.require_token()
        deadline = time.monotonic() + limits.deadline

        async def attempt() -> T:
            return await fetch(await self._link(track), deadline - time.monotonic())

        return await self._retry(f"download of track {track.track_id}", attempt, deadline)

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
        tracks = [from_api(t) for t in found.tracks.results]
        for bad in (t for t in tracks if t.problem):
            log.warning("search %r: a result left out: %s", text, bad.problem)
        return [t for t in tracks if t.problem is None]
