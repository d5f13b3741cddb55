"""A stand-in Yandex Music API for tests of `import-yandex` and `link-yandex`.

The real `yandex-music` library (ClientAsync over aiohttp) talks to it over real HTTP on
127.0.0.1, so the tests exercise the library's request building, envelope parsing, models and
download chain exactly as in production:

    with FakeYandex(tmp_path) as ym:
        album = ym.add_album("Album", "Artist", [mp3_bytes, ...])
        env = ym.env()  # YANDEX_MUSIC_API_URL, YANDEX_MUSIC_TOKEN, SSL_CERT_FILE

JSON is shaped like the real API's (camelCase keys, the `{"invocationInfo", "result"}` envelope),
with only fields the library's models declare; tests/support/test_fake_yandex.py parses every
response with the library in strict mode with unknown-field reports on, so a field we misname or
leave out fails a test. Downloads follow the real chain: `/tracks/ID/download-info` lists
variants, each `downloadInfoUrl` answers an XML document (host, path, ts, s), and the library
builds `https://{host}/get-mp3/{md5(salt + path[1:] + s)}/{ts}{path}` — served here over TLS
with a certificate made by `trustme`, which checks the signature, so a wrongly built link fails.

Failures are injected per endpoint (optionally per track): `fail("mp3", 500, times=3)`,
`stall("download-info", 2.0)`, `expire_first_link(track_id)`; counters record what was fetched.
A hostile server is played too: ids that are paths (`add_track(..., shown_id="../x")`), bodies
that are huge, endless or slow (`serve_body`), redirects to plain http (`redirect_mp3`), answers
that are not what the API sends (`garble`), and a token revoked in the middle (`revoke_token`).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import posixpath
import re
import secrets
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme

SIGN_SALT = "XGRlBW9FXlekgbPrRHuSiA"  # the library's constant (yandex_music/download_info.py)
OWNER_UID = 1001
OWNER_LOGIN = "soundalike-owner"
BITRATES = (320, 192, 128, 64)
ENDPOINTS = (
    "account",
    "album",
    "tracks",
    "artist",
    "playlist",
    "chart",
    "likes",
    "search",
    "download-info",
    "xml",
    "mp3",
)
_AUTH_NEEDED = frozenset({"account", "likes", "download-info"})


@dataclass
class FakeTrack:
    id: int
    title: str
    artists: list[tuple[int, str]]
    album_id: int
    audio: bytes
    version: str | None = None
    duration_ms: int = 6000
    available: bool = True
    error: str | None = None  # "not-found" for a removed track
    preview_only: bool = False  # download-info offers 30-second previews only
    shown_id: str | None = None  # the id the answers give instead of the real one (hostile)
    shown_album_id: Any = None  # likewise for the track's album


@dataclass
class _Body:
    """An mp3 body served in pieces: `size` bytes (None: endless), `rate` bytes/s at most."""

    size: int | None
    rate: float | None
    piece: bytes


@dataclass
class Request:
    method: str
    endpoint: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    track_id: str | None
    authorized: bool


@dataclass
class _Fault:
    endpoint: str
    status: int  # 0: stall for `seconds` instead of answering
    times: int
    track_id: str | None
    seconds: float = 0.0
    body: bytes | None = None  # answer this instead (a garbled answer), with `status`


@dataclass
class _Ticket:
    track_id: str
    bitrate: int
    secret: str
    path: str
    ts: str
    expired: bool = False


@dataclass
class _State:
    tracks: dict[str, FakeTrack] = field(default_factory=dict)
    albums: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # title, track ids
    artists: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    user_playlists: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    uuid_playlists: dict[str, list[str]] = field(default_factory=dict)
    chart: list[str] = field(default_factory=list)
    likes: list[str] = field(default_factory=list)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeYandex


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.fake._handle(self, b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.fake._handle(self, self.rfile.read(length))


@dataclass
class _Answer:
    status: int
    body: bytes
    content_type: str = "application/json"
    pieces: Callable[[], Iterator[bytes]] | None = None  # a streamed body instead of `body`
    length: int | None = None  # of the streamed body; None: until the connection closes
    location: str | None = None  # a redirect


class _AnswerError(Exception):
    """Answer at once with this (an error status) instead of the endpoint's result."""

    def __init__(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        super().__init__(status)
        self.answer = _Answer(status, body, content_type)


def _envelope(result: Any) -> bytes:
    return json.dumps(
        {
            "invocationInfo": {"hostname": "fake-yandex", "req-id": secrets.token_hex(8)},
            "result": result,
        },
        ensure_ascii=False,
    ).encode()


def _error(status: int, name: str, message: str) -> _AnswerError:
    body = {
        "invocationInfo": {"hostname": "fake-yandex", "req-id": secrets.token_hex(8)},
        "error": {"name": name, "message": message},
    }
    return _AnswerError(status, json.dumps(body).encode())


class FakeYandex:
    """The API on http://127.0.0.1:PORT, the mp3 storage on https://127.0.0.1:TLS_PORT."""

    def __init__(self, folder: Path, token: str | None = None) -> None:
        self.token = token or f"y0_FAKE{secrets.token_hex(20)}"
        self.folder = folder
        self.requests: list[Request] = []
        self.downloads: Counter[str] = Counter()  # mp3 bodies served, per track id
        self.bitrates: Counter[int] = Counter()  # of the variants downloaded
        self._state = _State()
        self._faults: list[_Fault] = []
        self._tickets: dict[str, _Ticket] = {}
        self._expire_first: set[str] = set()
        self._bodies: dict[str, _Body] = {}
        self._redirects: dict[str, str] = {}  # track id → scheme of the redirect's target
        self._revoke_after: int | None = None
        self.revoked = False
        self._lock = threading.Lock()
        self._ids = itertools.count(100_001)
        ca = trustme.CA()
        self.ca_file = folder / "fake-yandex-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self._api = _Server(("127.0.0.1", 0), _Handler)
        self._storage = _Server(("127.0.0.1", 0), _Handler)
        self._storage.socket = context.wrap_socket(self._storage.socket, server_side=True)
        self._api.fake = self._storage.fake = self
        self._threads: list[threading.Thread] = []

    # lifecycle

    def start(self) -> FakeYandex:
        for server in (self._api, self._storage):
            thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in (self._api, self._storage):
            server.shutdown()
            server.server_close()

    def __enter__(self) -> FakeYandex:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._api.server_address[1]}"

    @property
    def storage_host(self) -> str:
        return f"127.0.0.1:{self._storage.server_address[1]}"

    def env(self, *, token: str | None = "default") -> dict[str, str]:
        """Variables for a `python -m bot` process; token=None leaves the token out."""
        values = {"YANDEX_MUSIC_API_URL": self.api_url, "SSL_CERT_FILE": str(self.ca_file)}
        if token is not None:
            values["YANDEX_MUSIC_TOKEN"] = self.token if token == "default" else token
        return values

    # catalog

    def _artist_id(self, name: str) -> int:
        for key, (existing, _) in self._state.artists.items():
            if existing == name:
                return int(key)
        artist_id = next(self._ids)
        self._state.artists[str(artist_id)] = (name, [])
        return artist_id

    def add_album(
        self, title: str, artist: str, audio: list[bytes], **track_fields: Any
    ) -> tuple[str, list[str]]:
        """An album of tracks "Song 1".. by `artist`; returns (album id, track ids)."""
        album_id = next(self._ids)
        with self._lock:
            self._state.albums[str(album_id)] = (title, [])
        ids = [
            self.add_track(f"{title} {n}", artist, data, album_id=album_id, **track_fields)
            for n, data in enumerate(audio, 1)
        ]
        return str(album_id), ids

    def add_track(
        self,
        title: str,
        artist: str | list[str],
        audio: bytes,
        *,
        album_id: int | None = None,
        album_title: str | None = None,
        **fields: Any,
    ) -> str:
        names = [artist] if isinstance(artist, str) else artist
        with self._lock:
            artists = [(self._artist_id(name), name) for name in names]
            if album_id is None:
                album_id = next(self._ids)
                self._state.albums[str(album_id)] = (album_title or title, [])
            track = FakeTrack(next(self._ids), title, artists, album_id, audio, **fields)
            track_id = str(track.id)
            self._state.tracks[track_id] = track
            self._state.albums[str(album_id)][1].append(track_id)
            for artist_id, _ in artists:
                self._state.artists[str(artist_id)][1].append(track_id)
        return track_id

    def artist_id(self, name: str) -> str:
        with self._lock:
            return str(self._artist_id(name))

    def add_user_playlist(self, owner: str, kind: int, track_ids: list[str]) -> None:
        self._state.user_playlists[(owner, str(kind))] = list(track_ids)

    def add_playlist(self, uuid: str, track_ids: list[str]) -> None:
        self._state.uuid_playlists[uuid] = list(track_ids)

    def set_chart(self, track_ids: list[str]) -> None:
        self._state.chart = list(track_ids)

    def set_likes(self, track_ids: list[str]) -> None:
        self._state.likes = list(track_ids)

    # faults and records

    def fail(self, endpoint: str, status: int, times: int = 1, track_id: str | None = None) -> None:
        """Answer the next `times` requests to `endpoint` (for `track_id`) with `status`."""
        assert endpoint in ENDPOINTS, endpoint
        self._faults.append(_Fault(endpoint, status, times, track_id))

    def stall(
        self, endpoint: str, seconds: float, times: int = 1, track_id: str | None = None
    ) -> None:
        """Hold the next `times` answers for `seconds` (a client timeout, when it is shorter)."""
        assert endpoint in ENDPOINTS, endpoint
        self._faults.append(_Fault(endpoint, 0, times, track_id, seconds))

    def garble(
        self,
        endpoint: str,
        body: bytes,
        status: int = 200,
        times: int = 1,
        track_id: str | None = None,
    ) -> None:
        """Answer the next `times` requests to `endpoint` with `body` as it is (say, not JSON)."""
        assert endpoint in ENDPOINTS, endpoint
        self._faults.append(_Fault(endpoint, status, times, track_id, body=body))

    def serve_body(
        self, track_id: str, size: int | None, rate: float | None = None, piece: int = 1 << 16
    ) -> None:
        """The track's mp3 becomes `size` bytes (None: endless) sent at `rate` bytes/s at most,
        without being held in memory: the track's audio repeated."""
        audio = self._state.tracks[track_id].audio or b"\xff"
        self._bodies[track_id] = _Body(size, rate, (audio * (piece // len(audio) + 1))[:piece])

    def redirect_mp3(self, track_id: str, scheme: str = "http") -> None:
        """The track's mp3 answers 302 to the same file elsewhere: over plain http on the API
        port, or over https again."""
        self._redirects[track_id] = scheme

    def revoke_token(self, after_downloads: int = 0) -> None:
        """The token answers 401 everywhere once `after_downloads` mp3 bodies were served."""
        self._revoke_after = after_downloads
        self.revoked = after_downloads <= 0

    def expire_first_link(self, track_id: str) -> None:
        """The first download links made for the track answer 410 Gone, however often used."""
        self._expire_first.add(track_id)

    def calls(self, endpoint: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if endpoint is None or r.endpoint == endpoint]

    def _take_fault(self, endpoint: str, track_id: str | None) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.endpoint == endpoint and fault.track_id in (None, track_id):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # JSON shapes

    def _artist_json(self, artist_id: int, name: str) -> dict[str, Any]:
        return {
            "id": artist_id,
            "name": name,
            "various": False,
            "composer": False,
            "cover": {"type": "from-artist-photos", "uri": "avatars.yandex.net/get-music/%%"},
            "genres": [],
        }

    def _album_json(self, album_id: str, track_index: int | None = None) -> dict[str, Any]:
        title, ids = self._state.albums.get(album_id, ("Unknown album", []))
        artists: dict[int, str] = {}
        for track_id in ids:
            artists.update(dict(self._state.tracks[track_id].artists))
        album: dict[str, Any] = {
            "id": int(album_id),
            "title": title,
            "metaType": "music",
            "year": 2021,
            "releaseDate": "2021-05-14T00:00:00+03:00",
            "coverUri": "avatars.yandex.net/get-music-content/%%",
            "ogImage": "avatars.yandex.net/get-music-content/%%",
            "genre": "electronics",
            "trackCount": len(ids),
            "recent": False,
            "veryImportant": False,
            "artists": [self._artist_json(k, v) for k, v in artists.items()],
            "labels": [{"id": 777, "name": "Fake Records"}],
            "available": True,
            "availableForPremiumUsers": True,
            "availableForMobile": True,
            "availablePartially": False,
            "bests": [],
        }
        if track_index is not None:
            album["trackPosition"] = {"volume": 1, "index": track_index}
        return album

    def _track_json(self, track_id: str) -> dict[str, Any]:
        track = self._state.tracks[track_id]
        if track.error:
            return {"id": track_id, "error": track.error, "available": False}
        _, album_ids = self._state.albums.get(str(track.album_id), ("", []))
        index = album_ids.index(track_id) + 1 if track_id in album_ids else 1
        shown = track.shown_id or track_id
        body: dict[str, Any] = {
            "id": shown,
            "realId": shown,
            "title": track.title,
            "trackSource": "OWN",
            "major": {"id": 1, "name": "FAKE_MAJOR"},
            "available": track.available,
            "availableForPremiumUsers": track.available,
            "availableFullWithoutPermission": False,
            "availableForOptions": ["bookmate"],
            "durationMs": track.duration_ms,
            "previewDurationMs": 30000,
            "storageDir": "",
            "fileSize": 0,
            "r128": {"i": -9.5, "tp": 0.3},
            "artists": [self._artist_json(a, n) for a, n in track.artists],
            "albums": [self._album_json(str(track.album_id), index)],
            "coverUri": "avatars.yandex.net/get-music-content/%%",
            "ogImage": "avatars.yandex.net/get-music-content/%%",
            "lyricsAvailable": False,
            "type": "music",
            "rememberPosition": False,
            "trackSharingFlag": "COVER_ONLY",
        }
        if track.version:
            body["version"] = track.version
        if track.shown_album_id is not None:
            body["albums"][0]["id"] = track.shown_album_id
        return body

    def _short_json(self, track_id: str, n: int, with_track: bool = True) -> dict[str, Any]:
        track = self._state.tracks[track_id]
        short: dict[str, Any] = {
            "id": int(track_id),
            "timestamp": "2024-03-01T12:00:00+00:00",
            "originalIndex": n,
        }
        if with_track:
            short["track"] = self._track_json(track_id)
        else:
            short["albumId"] = str(track.album_id)
        return short

    def _playlist_json(
        self, ids: list[str], *, kind: int, title: str, uuid: str, chart: bool = False
    ) -> dict[str, Any]:
        tracks = []
        for n, track_id in enumerate(ids):
            short = self._short_json(track_id, n)
            if chart:
                position = {"position": n + 1, "progress": "same", "listeners": 100, "shift": 0}
                short["chart"] = position
            tracks.append(short)
        return {
            "owner": {"uid": OWNER_UID, "login": OWNER_LOGIN, "name": "Owner", "sex": "unknown"},
            "cover": {"type": "mosaic", "itemsUri": [], "custom": False},
            "uid": OWNER_UID,
            "kind": kind,
            "title": title,
            "trackCount": len(ids),
            "revision": 3,
            "snapshot": 3,
            "visibility": "public",
            "collective": False,
            "created": "2023-01-01T00:00:00+00:00",
            "modified": "2024-03-01T12:00:00+00:00",
            "available": True,
            "isBanner": False,
            "isPremiere": False,
            "durationMs": sum(self._state.tracks[i].duration_ms for i in ids),
            "ogImage": "avatars.yandex.net/get-music-user-playlist/%%",
            "tags": [],
            "likesCount": 5,
            "playlistUuid": uuid,
            "tracks": tracks,
        }

    # routing

    def _route(self, method: str, path: str, query: dict[str, list[str]]) -> tuple[str, str | None]:
        """(endpoint, track id or None) for a request path."""
        patterns = (
            (r"/account/status", "account"),
            (r"/albums/(\d+)/with-tracks", "album"),
            (r"/tracks", "tracks"),
            (r"/tracks/([\d:]+)/download-info", "download-info"),
            (r"(/.+)/download-info", "download-info"),
            (r"/artists/(\d+)/tracks", "artist"),
            (r"/users/([^/]+)/playlists/(\d+)", "playlist"),
            (r"/playlist/([^/]+)", "playlist"),
            (r"/landing3/chart", "chart"),
            (r"/users/([^/]+)/likes/tracks", "likes"),
            (r"/search", "search"),
            (r"/storage/download-info/(\w+)", "xml"),
            (r"/get-mp3/(\w+)/(\w+)/storage/(\w+)/\d+\.mp3", "mp3"),
        )
        for pattern, endpoint in patterns:
            found = re.fullmatch(pattern, path)
            if found:
                track_id = None
                if endpoint == "download-info" and found.group(1).startswith("/"):
                    track_id = self._shown(path)  # an id that is a path, as a client sent it
                elif endpoint == "download-info":
                    track_id = found.group(1).partition(":")[0]
                elif endpoint in ("xml", "mp3"):
                    ticket = self._tickets.get(found.groups()[-1])
                    track_id = ticket.track_id if ticket else None
                return endpoint, track_id
        raise _error(404, "not-found", f"no such endpoint: {method} {path}")

    def _shown(self, path: str) -> str | None:
        """The track whose shown id makes this download-info path (slashes and dots folded)."""
        for track_id, track in self._state.tracks.items():
            made = f"/tracks/{track.shown_id}/download-info"
            if track.shown_id and posixpath.normpath(made) == posixpath.normpath(path):
                return track_id
        return None

    def _handle(self, handler: _Handler, body: bytes) -> None:
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query)
        form = parse_qs(body.decode("utf-8", "replace")) if body else {}
        auth = handler.headers.get("Authorization")
        try:
            endpoint, track_id = self._route(handler.command, parts.path, query)
            with self._lock:
                self.requests.append(
                    Request(
                        handler.command,
                        endpoint,
                        parts.path,
                        query,
                        form,
                        track_id,
                        auth == f"OAuth {self.token}",
                    )
                )
            if auth is not None and (auth != f"OAuth {self.token}" or self.revoked):
                raise _error(401, "session-expired", "invalid oauth token")
            if auth is None and endpoint in _AUTH_NEEDED:
                raise _error(401, "not-authorized", "authorization required")
            fault = self._take_fault(endpoint, track_id)
            if fault is not None:
                if fault.body is not None:
                    raise _AnswerError(fault.status, fault.body)
                if fault.status == 0:
                    time.sleep(fault.seconds)
                else:
                    raise _error(fault.status, "injected", f"injected {fault.status}")
            answer = self._answer(endpoint, parts.path, query, form, track_id)
        except _AnswerError as error:
            answer = error.answer
        with contextlib.suppress(OSError):  # the client may have given up (a timeout test)
            handler.send_response(answer.status)
            handler.send_header("Content-Type", answer.content_type)
            if answer.location is not None:
                handler.send_header("Location", answer.location)
            if answer.pieces is None:
                handler.send_header("Content-Length", str(len(answer.body)))
            elif answer.length is not None:
                handler.send_header("Content-Length", str(answer.length))
            handler.end_headers()
            if answer.pieces is None:
                handler.wfile.write(answer.body)
                return
            for piece in answer.pieces():
                handler.wfile.write(piece)

    def _answer(
        self,
        endpoint: str,
        path: str,
        query: dict[str, list[str]],
        form: dict[str, list[str]],
        track_id: str | None,
    ) -> _Answer:
        state = self._state
        if endpoint == "account":
            account = {
                "now": "2024-03-01T12:00:00+00:00",
                "serviceAvailable": True,
                "region": 225,
                "uid": OWNER_UID,
                "login": OWNER_LOGIN,
                "displayName": "Owner",
            }
            permissions = {"until": "2030-01-01T00:00:00+00:00", "values": [], "default": []}
            plus = {"hasPlus": True, "isTutorialCompleted": True}
            return _Answer(
                200, _envelope({"account": account, "permissions": permissions, "plus": plus})
            )
        if endpoint == "album":
            album_id = path.split("/")[2]
            if album_id not in state.albums:
                raise _error(404, "not-found", "album not found")
            album = self._album_json(album_id)
            album["volumes"] = [[self._track_json(i) for i in state.albums[album_id][1]]]
            return _Answer(200, _envelope(album))
        if endpoint == "tracks":
            raw = form.get("track-ids", [])
            ids = [part.partition(":")[0] for value in raw for part in value.split(",")]
            return _Answer(200, _envelope([self._track_json(i) for i in ids if i in state.tracks]))
        if endpoint == "artist":
            artist_id = path.split("/")[2]
            if artist_id not in state.artists:
                raise _error(404, "not-found", "artist not found")
            ids = state.artists[artist_id][1]
            page = int(query.get("page", ["0"])[0])
            size = int(query.get("page-size", ["20"])[0])
            chunk = ids[page * size : (page + 1) * size]
            pager = {"total": len(ids), "page": page, "perPage": size}
            tracks = [self._track_json(i) for i in chunk]
            return _Answer(200, _envelope({"tracks": tracks, "pager": pager}))
        if endpoint == "playlist":
            pieces = path.split("/")
            if pieces[1] == "users":
                ids_or_none = state.user_playlists.get((pieces[2], pieces[4]))
                kind, uuid = int(pieces[4]), f"uuid-{pieces[2]}-{pieces[4]}"
            else:
                ids_or_none = state.uuid_playlists.get(pieces[2])
                kind, uuid = 1000, pieces[2]
            if ids_or_none is None:
                raise _error(404, "not-found", "playlist not found")
            playlist = self._playlist_json(ids_or_none, kind=kind, title="Playlist", uuid=uuid)
            return _Answer(200, _envelope(playlist))
        if endpoint == "chart":
            chart = {
                "id": "KpXst7X4",
                "type": "chart",
                "typeForFrom": "chart",
                "title": "Чарт",
                "menu": {"items": [{"title": "Россия", "url": "/russia", "selected": True}]},
                "chart": self._playlist_json(
                    state.chart, kind=1076, title="Чарт", uuid="chart-uuid", chart=True
                ),
                "chartDescription": "Треки, популярные на Яндекс Музыке прямо сейчас",
            }
            return _Answer(200, _envelope(chart))
        if endpoint == "likes":
            if path.split("/")[2] != str(OWNER_UID):
                raise _error(403, "forbidden", "not your likes")
            shorts = [self._short_json(i, n, with_track=False) for n, i in enumerate(state.likes)]
            library = {"uid": OWNER_UID, "revision": 7, "tracks": shorts}
            return _Answer(200, _envelope({"library": library}))
        if endpoint == "search":
            return _Answer(200, _envelope(self._search(query.get("text", [""])[0])))
        if endpoint == "download-info":
            return _Answer(200, _envelope(self._download_info(track_id or "")))
        if endpoint == "xml":
            return self._xml(path.rsplit("/", 1)[1])
        return self._mp3(path, query)

    def _search(self, text: str) -> dict[str, Any]:
        def words(value: str) -> list[str]:  # a little of the real search's forgiveness
            return re.sub(r"[\W_]+", " ", value.casefold().replace("ё", "е")).split()

        wanted = words(text)
        found = []
        for track_id, track in self._state.tracks.items():
            haystack = words(" ".join([track.title, *(n for _, n in track.artists)]))
            if track.error is None and all(word in haystack for word in wanted):
                found.append(self._track_json(track_id))
        results = {"type": "track", "total": len(found), "perPage": 10, "order": 0}
        return {
            "searchRequestId": secrets.token_hex(8),
            "text": text,
            "type": "track",
            "page": 0,
            "perPage": 10,
            "nocorrect": False,
            "misspellCorrected": False,
            "tracks": {**results, "results": found[:10]},
        }

    def _download_info(self, track_id: str) -> list[dict[str, Any]]:
        track = self._state.tracks.get(track_id)
        if track is None or track.error:
            raise _error(404, "not-found", "track not found")
        variants = []
        with self._lock:  # every variant of the first answer for the track, when asked
            expired = track_id in self._expire_first
            self._expire_first.discard(track_id)
        for bitrate in BITRATES:
            ticket = secrets.token_hex(8)
            with self._lock:
                self._tickets[ticket] = _Ticket(
                    track_id,
                    bitrate,
                    secrets.token_hex(16),
                    f"/storage/{ticket}/{bitrate}.mp3",
                    f"{int(time.time()):x}",
                    expired,
                )
            variants.append(
                {
                    "codec": "mp3",
                    "gain": False,
                    "preview": track.preview_only,
                    "downloadInfoUrl": f"{self.api_url}/storage/download-info/{ticket}",
                    "direct": False,
                    "bitrateInKbps": bitrate,
                }
            )
        return variants

    def _xml(self, ticket_id: str) -> _Answer:
        ticket = self._tickets.get(ticket_id)
        if ticket is None:
            raise _AnswerError(410, b"Gone", "text/plain")
        xml = (
            '<?xml version="1.0" encoding="utf-8"?>\n<download-info>'
            f"<host>{self.storage_host}</host><path>{ticket.path}</path>"
            f"<ts>{ticket.ts}</ts><region>-1</region><s>{ticket.secret}</s></download-info>"
        )
        return _Answer(200, xml.encode(), "text/xml")

    def _mp3(self, path: str, query: dict[str, list[str]]) -> _Answer:
        found = re.fullmatch(r"/get-mp3/(\w+)/(\w+)(/storage/(\w+)/\d+\.mp3)", path)
        assert found is not None
        sign, ts, file_path, ticket_id = found.groups()
        ticket = self._tickets.get(ticket_id)
        if ticket is None or ticket.ts != ts or ticket.path != file_path:
            raise _AnswerError(404, b"Not Found", "text/plain")
        expected = hashlib.md5((SIGN_SALT + file_path[1:] + ticket.secret).encode()).hexdigest()
        if sign != expected:
            raise _AnswerError(403, b"Forbidden: bad sign", "text/plain")
        if ticket.expired:
            raise _AnswerError(410, b"Gone", "text/plain")
        track = self._state.tracks[ticket.track_id]
        scheme = self._redirects.get(ticket.track_id)
        if scheme is not None and "moved" not in query:
            host = self.storage_host if scheme == "https" else self.api_url.split("//")[1]
            return _Answer(302, b"", "text/plain", location=f"{scheme}://{host}{path}?moved=1")
        with self._lock:
            self.downloads[ticket.track_id] += 1
            self.bitrates[ticket.bitrate] += 1
            if self._revoke_after is not None and self.downloads.total() >= self._revoke_after:
                self.revoked = True
        body = self._bodies.get(ticket.track_id)
        if body is not None:
            return _Answer(200, b"", "audio/mpeg", pieces=lambda: _pieces(body), length=body.size)
        return _Answer(200, track.audio, "audio/mpeg")


def _pieces(body: _Body) -> Iterator[bytes]:
    """`body.size` bytes (or endless) of `body.piece` repeated, at `body.rate` at most."""
    left = body.size
    while left is None or left > 0:
        piece = body.piece if left is None else body.piece[:left]
        if body.rate:
            time.sleep(len(piece) / body.rate)
        yield piece
        if left is not None:
            left -= len(piece)


@contextlib.contextmanager
def running(folder: Path) -> Iterator[FakeYandex]:
    with FakeYandex(folder) as fake:
        yield fake
