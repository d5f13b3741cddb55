"""A Yandex Music track as a question to the catalog: what the chat does with a link or a search.

A track the catalog holds (by its Yandex id, its own or a re-issue's, with a vector of the
serving model) is answered from its stored vector: no network at all, no download, no
embedding. Any other track is looked up (metadata), downloaded through the operator's token with
the importer's client (fresh link per attempt, retries, size cap, deadline) into the bot's
private folder, and analysed exactly as an uploaded file; the file is removed once analysed.
Search needs no token.

An album or a playlist asks "tracks like these": the mean of its tracks' vectors — the stored
ones of those in the catalog, plus at most TRACKS_DOWNLOADED others downloaded and embedded as
the catalog embeds — with its own catalog tracks left out of the list (of a long playlist, its
first TRACKS_CONSIDERED).
"""

import asyncio
import logging
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from catalog.links import display_name
from catalog.recommender import Answer, Recommender
from catalog.yandex.client import (
    MIN_MP3_KBPS,
    UnavailableError,
    YandexAccessError,
    YandexCallError,
    YandexMusic,
    YandexTrack,
)
from catalog.yandex.links import AlbumLink, PlaylistLink, TrackLink, UserPlaylistLink, describe
from core.embedding_service import EMBED_FAILURES
from storage import SentMedia, Track

log = logging.getLogger(__name__)

SEARCH_RESULTS = 3  # offered as buttons: more is a list to read, not a tap
TRACKS_DOWNLOADED = 10  # of an album or playlist, besides those the catalog holds
TRACKS_CONSIDERED = 300  # of a long playlist: its first ones make the mean (a lookup each)
DOWNLOADS_AT_ONCE = 3
DOWNLOAD_DEADLINE = 120.0  # seconds for one track's download, every attempt included
ManyTracks = AlbumLink | PlaylistLink | UserPlaylistLink


class TooLongError(Exception):
    """The track's mp3 would be larger than the bot takes (its duration says so)."""

    def __init__(self, megabytes: float) -> None:
        super().__init__(f"about {megabytes:.0f} MB")
        self.megabytes = megabytes


@dataclass(frozen=True)
class LinkAnswer:
    """The answer to a Yandex track, and the name it is shown under ("Artist — Title")."""

    name: str
    answer: Answer
    downloaded: bool  # False: answered from the catalog's stored vector(s) alone


class YandexQuestions:
    """Answers Yandex Music tracks for the chat (see the module)."""

    def __init__(
        self, recommender: Recommender, music: YandexMusic, folder: Path, max_bytes: int
    ) -> None:
        self.recommender = recommender
        self.music = music
        self.folder = folder  # private: the bot's download folder
        # a person is waiting: the chat's size cap, and minutes rather than an import's ten
        self.limits = replace(music.limits, max_bytes=max_bytes, deadline=DOWNLOAD_DEADLINE)

    async def in_catalog(self, track_id: str) -> Track | None:
        """The catalog track a Yandex id names, if it has a vector the bot ranks with."""
        database = self.recommender.database
        track = await database.tracks.find_by_yandex_id(track_id)
        if track is None or not await database.embeddings.has(
            track.id, self.recommender.model.model_id
        ):
            return None
        return track

    async def answer(self, link: TrackLink, *, user_id: int) -> LinkAnswer:
        """The answer to the linked track, saved for `user_id`.

        Raises YandexAccessError (no token, or it was refused) when the track must be
        downloaded; UnavailableError (region, rights, removed, preview only), YandexCallError
        (not found, Yandex not answering), TooLongError; from the analysis as for a file
        (core.errors.AudioError, catalog.recommender.EmptyCatalogError)."""
        known = await self.in_catalog(link.track_id)
        if known is not None:
            name = display_name(known)
            sent = SentMedia("yandex", name, duration=known.duration)
            answer = await self.recommender.answer_track(known, user_id=user_id, sent=sent)
            return LinkAnswer(name, answer, downloaded=False)
        self.music.require_token()  # before any call: no token, no download
        found = await self.music.tracks_for(link)
        if not found or found[0].problem is not None:
            raise YandexCallError(f"track {link.track_id}: not found")
        track = found[0]
        if track.unavailable:
            raise UnavailableError(track.unavailable)
        return await self.answer_new(track, user_id=user_id)

    async def answer_new(self, track: YandexTrack, *, user_id: int) -> LinkAnswer:
        """Download `track` and analyse it like an uploaded file (errors as `answer`)."""
        expected = (track.duration or 0) * MIN_MP3_KBPS * 1000 / 8
        if expected > self.limits.max_bytes:
            raise TooLongError(expected / (1 << 20))
        name = f"{track.artist} — {track.title}" if track.artist else track.title
        path = self.folder / f"{uuid.uuid4().hex}.mp3"
        try:
            _digest, size = await self.music.download(track, path, self.limits)
            sent = SentMedia("yandex", name, size, track.duration, artist=track.artist)
            answer = await self.recommender.answer(path, user_id=user_id, sent=sent)
        finally:
            path.unlink(missing_ok=True)
        return LinkAnswer(name, answer, downloaded=True)

    async def answer_many(self, link: ManyTracks, *, user_id: int) -> LinkAnswer:
        """The answer to an album or a playlist (see the module); errors as `answer`, and
        YandexAccessError when none of its tracks is in the catalog and there is no token."""
        listed = [t for t in await self.music.tracks_for(link) if t.problem is None]
        listed = listed[:TRACKS_CONSIDERED]
        if not listed:
            raise YandexCallError(f"{describe(link)}: not found")
        own: list[int] = []
        missing: list[YandexTrack] = []
        for track in listed:
            known = await self.in_catalog(track.track_id)
            if known is not None:
                own.append(known.id)
            elif not track.unavailable:
                missing.append(track)
        model_id = self.recommender.model.model_id
        stored = await self.recommender.database.embeddings.vectors(model_id, own)
        heard = await self._embedded(missing[:TRACKS_DOWNLOADED]) if self.music.has_token else []
        vectors = [*stored.values(), *heard]
        if not vectors:
            if missing and not self.music.has_token:
                self.music.require_token()
            raise UnavailableError(f"{describe(link)}: none of its tracks could be fetched")
        first = listed[0]
        if isinstance(link, AlbumLink) and first.album:
            name = f"{first.artist} — {first.album}" if first.artist else first.album
        else:
            name = describe(link).removeprefix("playlist ")
        sent = SentMedia("album" if isinstance(link, AlbumLink) else "playlist", name)
        if isinstance(link, AlbumLink):  # an album's artist is whose tracks "other artists" skips
            sent = replace(sent, artist=first.artist)
        answer = await self.recommender.answer_mean(
            vectors, leave_out=own, user_id=user_id, sent=sent
        )
        return LinkAnswer(name, answer, downloaded=bool(heard))

    async def _embedded(self, tracks: list[YandexTrack]) -> list[npt.NDArray[np.float32]]:
        """The tracks downloaded and embedded as the catalog embeds them, a few at once; a
        track that cannot be fetched or heard is skipped (the others still count)."""
        slots = asyncio.Semaphore(DOWNLOADS_AT_ONCE)

        async def one(track: YandexTrack) -> npt.NDArray[np.float32] | None:
            path = self.folder / f"{uuid.uuid4().hex}.mp3"
            try:
                async with slots:
                    await self.music.download(track, path, self.limits)
                return (await self.recommender.embedder.embed(path)).vector
            except (UnavailableError, YandexCallError, *EMBED_FAILURES) as error:
                log.info("track %s left out of its list: %s", track.track_id, error)
                return None
            finally:
                path.unlink(missing_ok=True)

        found = await asyncio.gather(*(one(track) for track in tracks))
        return [vector for vector in found if vector is not None]

    async def search(self, text: str) -> list[YandexTrack]:
        """The best SEARCH_RESULTS tracks Yandex Music finds for `text` (no token needed) that
        a tap can be answered for: available ones, and unavailable ones the catalog holds."""
        found: list[YandexTrack] = []
        for track in await self.music.search_tracks(text):
            if not track.unavailable or await self.in_catalog(track.track_id) is not None:
                found.append(track)
            if len(found) == SEARCH_RESULTS:
                break
        return found


__all__ = [
    "LinkAnswer",
    "TooLongError",
    "UnavailableError",
    "YandexAccessError",
    "YandexCallError",
    "YandexQuestions",
]
