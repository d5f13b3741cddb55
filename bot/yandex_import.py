"""Building the catalog from Yandex Music links: `python -m bot import-yandex LINK...`.

Each link is expanded into tracks (API metadata: title with version, artists, album, ids,
duration); each track not yet in the catalog for this model is downloaded (a few at once) while
earlier downloads are being embedded, then goes through the same embed→commit path as `import`
and is stored with its Yandex ids, so the bot links to the exact track. A track already in the
catalog (by Yandex track id) costs no download, so a rerun after an interruption continues where
it stopped. The audio is deleted once embedded unless `--keep DIR`.

On Ray (RAY_ADDRESS) the coordinator makes the API calls only: it resolves each track's direct
link and an actor downloads and embeds the mp3 itself, returning the vector and the sha256 of
what it fetched, so the audio never passes through this process (and `--keep` has no files).
"""

import asyncio
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

from bot.importer import Importer, ImportSummary
from bot.metadata import TrackMetadata
from bot.yandex_client import (
    UnavailableError,
    YandexCallError,
    YandexMusic,
    YandexTrack,
    ca_bundle_pem,
)
from bot.yandex_links import Target, describe
from core.embedding_service import Embedder, WorkerCrashedError
from core.errors import AudioError, NoWorkersError
from core.ray_embedding import FetchError, RayEmbeddingService
from storage import Database

# what an actor fetches at most: a long track at 320 kbps (an hour is ≈ 144 MB)
MAX_FETCH_BYTES = 200 * 1024 * 1024


def metadata_of(track: YandexTrack) -> TrackMetadata:
    """The API's metadata in the importer's terms (it wins over the file's tags)."""
    return TrackMetadata(
        title=track.title,
        artist=track.artist,
        album=track.album,
        yandex_track_id=track.track_id,
        yandex_album_id=track.album_id,
        duration=track.duration,
    )


class YandexImport:
    """Expands links into tracks, then downloads and embeds them with the two overlapping."""

    def __init__(
        self,
        database: Database,
        service: Embedder,
        music: YandexMusic,
        folder: Path,
        *,
        keep: bool = False,
        downloads: int = 3,
    ) -> None:
        self.database = database
        self.service = service
        self.music = music
        self.folder = folder  # where downloads land: the --keep folder, or a temporary one
        self.keep = keep
        self.downloads = downloads
        self.importer = Importer(database, service)
        self.summary: ImportSummary = self.importer.summary
        # read once: the CA bundle this process trusts goes to the actors with each fetch
        self._ca_pem = ca_bundle_pem() if isinstance(service, RayEmbeddingService) else None

    async def collect(
        self,
        targets: Iterable[Target],
        *,
        all_artist_tracks: bool = False,
        limit: int | None = None,
    ) -> list[YandexTrack]:
        """The tracks the links name, each once, in link order, at most `limit` of them.

        A link that cannot be listed (not found, refused, server down) is a failure in the
        summary; the other links still count.
        """
        found: dict[str, YandexTrack] = {}
        for target in targets:
            room = None if limit is None else limit - len(found)
            if room is not None and room <= 0:
                break
            try:
                tracks = await self.music.tracks_for(
                    target, all_artist_tracks=all_artist_tracks, limit=room
                )
            except (YandexCallError, UnavailableError) as error:
                name = describe(target)
                self.summary.failures.append((name, error.reason.removeprefix(f"{name}: ")))
                continue
            for track in tracks:
                if limit is not None and len(found) >= limit:
                    break
                found.setdefault(track.track_id, track)
        return list(found.values())

    async def run(self, tracks: list[YandexTrack]) -> ImportSummary:
        # downloads ahead of the workers: each worker has its next file ready when it finishes
        slots = asyncio.Semaphore(2 * self.service.workers + self.downloads)
        with tqdm(total=len(tracks), unit="track", disable=None) as bar:

            async def one(track: YandexTrack) -> None:
                async with slots:
                    await self.import_track(track)
                bar.update(1)

            await asyncio.gather(*(one(track) for track in tracks))
        return self.summary

    async def import_track(self, track: YandexTrack) -> None:
        """Skip, download, embed and commit one track; the outcome lands in the summary."""
        known = await self.database.tracks.find_by_yandex_id(track.track_id)
        if known is not None and await self.database.embeddings.has(
            known.id, self.service.model_id
        ):
            self.summary.present += 1
            return
        if track.unavailable:
            self.summary.unavailable.append((track.label, track.unavailable))
            return
        if isinstance(self.service, RayEmbeddingService):
            await self._import_on_ray(self.service, track)
            return
        kept = self.folder / f"{track.track_id}.mp3"
        try:
            path = (
                kept
                if self.keep and kept.is_file()
                else await self.music.download(track, self.folder)
            )
        except (UnavailableError, YandexCallError) as error:
            self._count_refused(track, error)
            return
        try:
            await self.importer.import_file(
                path, metadata_of(track), source=track.url, label=track.label
            )
        finally:
            if not self.keep:
                path.unlink(missing_ok=True)

    def _count_refused(self, track: YandexTrack, error: UnavailableError | YandexCallError) -> None:
        """A track the service would not give: unavailable (rights, removed, preview only) is
        reported apart from a failed call."""
        unavailable = isinstance(error, UnavailableError)
        (self.summary.unavailable if unavailable else self.summary.failures).append(
            (track.label, error.reason)
        )

    async def _import_on_ray(self, service: RayEmbeddingService, track: YandexTrack) -> None:
        """An actor downloads and embeds the track from a fresh link; this process commits it.
        A failed fetch worth retrying (timeouts, 410 expired link, 429, 5xx) gets a new link,
        up to the client's attempts, with its backoff."""
        what = f"download of track {track.track_id}"
        for attempt in range(1, self.music.attempts + 1):
            try:
                link = await self.music.direct_link(track)
            except (UnavailableError, YandexCallError) as error:
                self._count_refused(track, error)
                return
            try:
                fetched = await service.embed_url(
                    link,
                    max_bytes=MAX_FETCH_BYTES,
                    timeout=self.music.download_timeout,
                    ca_pem=self._ca_pem,
                )
            except FetchError as error:
                if error.transient and attempt < self.music.attempts:
                    await asyncio.sleep(self.music.retry_delay(attempt))
                    continue
                tries = f" (gave up after {attempt} attempts)" if error.transient else ""
                self.summary.failures.append((track.label, f"{what}: {error.reason}{tries}"))
                return
            except (AudioError, WorkerCrashedError, NoWorkersError) as error:
                self.summary.failures.append((track.label, getattr(error, "reason", str(error))))
                return
            await self.importer.import_embedded(
                fetched.sha256, fetched.embedding, metadata_of(track), source=track.url
            )
            return
