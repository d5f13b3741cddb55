"""Building the catalog from Yandex Music links: `python -m bot import-yandex LINK...`.

Each link is expanded into tracks (API metadata: title with version, artists, album, ids,
duration); each track not yet in the catalog for this model is fetched and embedded the one way
every Yandex track is (`YandexMusic.embed`: a fresh link per attempt, the embedder fetches it),
while other tracks download and embed, then is committed like an `import` and stored with its
Yandex ids, so the bot links to the exact track. A track already in the
catalog (by Yandex track id, its own or one recorded when its audio turned out to be a track
the catalog had under another id) costs no download, so a rerun after an interruption continues
where it stopped. The audio is deleted once embedded unless `--keep DIR`.

Downloads stream into a private folder beside the database (`<database>.yandex-downloads`), not
into TMPDIR: a run killed with -9 leaves its partial files where the next run finds and removes
them. Names of files are made from checked ids only (digits), so nothing outside that folder
and `--keep` is ever created, read or removed. A token revoked during the run stops it
(YandexAccessError, after the tracks in flight): what was committed stays, a rerun continues.

The local pool streams each mp3 into that folder (a few at once) and a worker embeds it; on Ray
(RAY_ADDRESS) an actor downloads and embeds the mp3 itself, returning the vector and the sha256
of what it fetched, so the audio never passes through this process (and `--keep` has no files).
"""

import asyncio
import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from catalog.batch import each_bounded
from catalog.importer import Importer, ImportSummary
from catalog.metadata import TrackMetadata
from catalog.yandex.client import (
    UnavailableError,
    YandexAccessError,
    YandexCallError,
    YandexMusic,
    YandexTrack,
)
from catalog.yandex.links import Target, describe
from core.embedding_service import EMBED_FAILURES, Embedder, failure_reason
from core.hashing import sha256_of
from storage import Database


def _in_use(folder: Path) -> bool:
    """Whether a live run holds `folder` (its flock; the kernel drops it when a run dies)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(handle)
    return False


@contextlib.contextmanager
def download_folder(database_path: Path) -> Iterator[Path]:
    """This run's private (0700) folder for partial downloads, inside
    `<database file>.yandex-downloads` beside the database; what runs that died left there is
    removed first (a live run's folder, locked, is left alone), and this one on the way out."""
    if str(database_path) == ":memory:":
        root = Path(tempfile.gettempdir())
    else:
        root = database_path.with_name(f"{database_path.name}.yandex-downloads")
        root.mkdir(mode=0o700, exist_ok=True)
        root.chmod(0o700)
        for left in root.iterdir():
            if left.is_dir() and not left.is_symlink():
                if not _in_use(left):
                    shutil.rmtree(left, ignore_errors=True)
            else:
                left.unlink(missing_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="run-", dir=root))
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(handle)


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
        keep: Path | None = None,
        downloads: int = 3,
    ) -> None:
        self.database = database
        self.service = service
        self.music = music
        self.folder = folder  # where downloads stream to: private (see download_folder)
        self.keep = keep  # where finished mp3s are kept (--keep), if anywhere
        self.downloads = downloads
        self.importer = Importer(database, service)
        self.summary: ImportSummary = self.importer.summary
        self._unresolved: list[tuple[YandexTrack, str]] = []  # fetched; their track not stored yet
        self._stopped: YandexAccessError | None = None

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
                if track.problem is not None:  # a malformed entry: its ids are never used
                    self.summary.failures.append((track.label, track.problem))
                    continue
                found.setdefault(track.track_id, track)
        return list(found.values())

    async def run(self, tracks: list[YandexTrack]) -> ImportSummary:
        """Import `tracks`; YandexAccessError once the tracks in flight when the token was
        refused are done (they are committed; the others wait for a rerun)."""

        async def one(track: YandexTrack) -> None:
            if self._stopped is None:
                try:
                    await self.import_track(track)
                except YandexAccessError as error:
                    self._stopped = self._stopped or error

        # downloads ahead of the workers: each worker has its next file ready when it finishes
        await each_bounded(tracks, 2 * self.service.workers + self.downloads, one)
        for track, digest in self._unresolved:  # same audio as another track of this run
            await self._remember(track, digest, last_try=True)
        if self._stopped is not None:
            raise self._stopped
        return self.summary

    async def _remember(self, track: YandexTrack, digest: str, last_try: bool = False) -> None:
        """Record the track's Yandex id on the catalog track its audio turned out to be, when
        that track has another id (a re-issue): a rerun then downloads nothing for it."""
        stored = await self.database.tracks.find_by_sha256(digest)
        if stored is None:
            if not last_try:
                self._unresolved.append((track, digest))
            return
        if stored.yandex_track_id != track.track_id:
            await self.database.yandex_ids.add(stored.id, track.track_id)

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
        name = f"{track.track_id}.mp3"  # a checked id: digits only
        if self.keep is not None and (self.keep / name).is_file():
            kept = self.keep / name  # downloaded by an earlier run with --keep
            digest = await asyncio.to_thread(sha256_of, kept)
            await self.importer.import_file(
                kept, metadata_of(track), source=track.url, label=track.label
            )
            await self._remember(track, digest)
            return
        path = self.folder / name  # the local pool streams here; a Ray actor writes nothing
        try:
            fetched = await self.music.embed(track, self.service, path)
        except (UnavailableError, YandexCallError) as error:
            self._count_refused(track, error)
            return
        except EMBED_FAILURES as error:
            self.summary.failures.append((track.label, failure_reason(error)))
            return
        finally:
            if self.keep is not None and path.is_file():
                await asyncio.to_thread(shutil.move, path, self.keep / name)
            path.unlink(missing_ok=True)
        await self.importer.import_embedded(
            fetched.sha256, fetched.embedding, metadata_of(track), source=track.url
        )
        await self._remember(track, fetched.sha256)

    def _count_refused(self, track: YandexTrack, error: UnavailableError | YandexCallError) -> None:
        """A track the service would not give: unavailable (rights, removed, preview only) is
        reported apart from a failed call."""
        unavailable = isinstance(error, UnavailableError)
        (self.summary.unavailable if unavailable else self.summary.failures).append(
            (track.label, error.reason)
        )
