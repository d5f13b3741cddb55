"""Moving a catalog to a new model: `python -m bot reindex [--workers N]`, and the choice of the
model the bot serves with while it runs.

Every catalog track without a vector of the configured model is embedded and stored: from its
source file while it is still there (with the content it was imported with), else, for a track
imported from Yandex Music, from a fresh download (deleted once embedded). Each vector is
committed as it arrives, so the command resumes where it stopped. Until the new model covers
the whole catalog, the bot keeps serving with the model that covers most of it
(`serving_model`).
"""

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from catalog.yandex.client import UnavailableError, YandexCallError, YandexMusic
from catalog.yandex.links import TrackLink
from core.embedding_service import Embedder, WorkerCrashedError
from core.errors import AudioError, NoWorkersError
from core.hashing import sha256_of
from core.models import DEFAULT_MODEL, ModelSpec, parse_model_spec
from storage import Database, Track

PAGE = 500  # tracks read from the catalog at a time
# The models a catalog may hold vectors of, besides the configured one: today's and earlier
# defaults and the other shipped networks (seed specs need their file and are not guessed).
KNOWN_SPECS = (DEFAULT_MODEL, "msd-vgg/pool5", "aisfx", "msd-musicnn/penultimate", "mfcc")


@dataclass
class ReindexSummary:
    embedded: int = 0
    downloaded: int = 0  # of the embedded, fetched again from Yandex Music
    present: int = 0
    unreachable: list[tuple[Track, str]] = field(default_factory=list)
    failures: list[tuple[Track, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        head = (
            f"embedded {self.embedded} · already had the model {self.present} · "
            f"audio unreachable {len(self.unreachable)} · failed {len(self.failures)}"
        )
        if self.downloaded:
            head += f" · downloaded from Yandex Music {self.downloaded}"
        return (
            [head]
            + [f"  unreachable: #{t.id} {t.title}: {reason}" for t, reason in self.unreachable]
            + [f"  failed: #{t.id} {t.title}: {reason}" for t, reason in self.failures]
        )


def _source_of(track: Track) -> tuple[Path | None, str]:
    """The readable file of `track` with its imported content, or None and why not."""
    if not track.source_path:
        return None, "no local file recorded"
    path = Path(track.source_path)
    if not path.is_file():
        return None, f"{path} no longer exists"
    try:
        digest = sha256_of(path)
    except OSError as error:
        return None, f"{path}: cannot read: {error.strerror}"
    if digest != track.sha256:
        return None, f"{path} has changed since it was imported"
    return path, ""


class Reindexer:
    """Embeds the catalog's tracks that lack a vector of `model_id`, or its section vectors
    (stored before clips were answered by them)."""

    def __init__(
        self,
        database: Database,
        model_id: str,
        music: YandexMusic | None = None,
        downloads: Path | None = None,
    ) -> None:
        """`music` and a `downloads` folder let Yandex Music tracks be fetched again."""
        self.database = database
        self.model_id = model_id
        self.music = music
        self.downloads = downloads
        self.summary = ReindexSummary()

    async def missing(self) -> list[Track]:
        """Catalog tracks without a vector of the model (or without its sections), in import
        order."""
        result: list[Track] = []
        offset = 0
        while page := await self.database.tracks.list(PAGE, offset):
            offset += len(page)
            for track in page:
                if await self.database.embeddings.has_sections(track.id, self.model_id):
                    self.summary.present += 1
                else:
                    result.append(track)
        return result

    async def run(self, tracks: list[Track], service: Embedder) -> ReindexSummary:
        """Embed `tracks` (from `missing`) in the service's workers, committing each vector."""
        if service.model_id != self.model_id:
            raise ValueError(f"workers embed with {service.model_id}, not {self.model_id}")
        slots = asyncio.Semaphore(2 * service.workers)
        with tqdm(total=len(tracks), unit="track", disable=None) as bar:

            async def one(track: Track) -> None:
                async with slots:
                    await self._reindex(track, service)
                bar.update(1)

            await asyncio.gather(*(one(track) for track in tracks))
        return self.summary

    async def _reindex(self, track: Track, service: Embedder) -> None:
        path, reason = await asyncio.to_thread(_source_of, track)
        downloaded = False
        if path is None and track.yandex_track_id:
            path, reason = await self._download(track)
            downloaded = path is not None
        if path is None:
            if reason:
                self.summary.unreachable.append((track, reason))
            return
        try:
            embedding = await service.embed(path)
        except (AudioError, WorkerCrashedError, NoWorkersError) as error:
            self.summary.failures.append((track, getattr(error, "reason", str(error))))
            return
        finally:
            if downloaded:
                path.unlink(missing_ok=True)
        self.summary.downloaded += downloaded
        await self.database.embeddings.put(
            track.id, self.model_id, embedding.vector, embedding.sections
        )
        self.summary.embedded += 1

    async def _download(self, track: Track) -> tuple[Path | None, str]:
        """A fresh download of a Yandex Music track, or None and why not ("" when the failure
        is already counted)."""
        assert track.yandex_track_id is not None
        if self.music is None or self.downloads is None or not self.music.has_token:
            return None, "a Yandex Music track: set YANDEX_MUSIC_TOKEN to download it again"
        link = TrackLink(track.yandex_track_id, track.yandex_album_id)
        try:
            found = await self.music.tracks_for(link)
            if not found:
                return None, "Yandex Music no longer lists it"
            if found[0].unavailable:
                return None, f"Yandex Music: {found[0].unavailable}"
            return await self.music.download(found[0], self.downloads), ""
        except UnavailableError as error:
            return None, f"Yandex Music: {error.reason}"
        except YandexCallError as error:
            self.summary.failures.append((track, f"Yandex Music: {error.reason}"))
            return None, ""


async def serving_model(database: Database, configured: ModelSpec) -> tuple[ModelSpec, str]:
    """The model to answer with, and a log line saying which and why.

    The configured model when it covers the whole catalog (or nothing covers more); otherwise
    the known model whose vectors cover most tracks, until `reindex` has finished.
    """
    stats = await database.tracks.stats()
    counts = stats.embeddings
    have = counts.get(configured.model_id, 0)
    if have >= stats.tracks:
        return configured, f"serving with {configured.model_id} ({have} tracks)"
    best = configured
    for text in KNOWN_SPECS:
        spec = parse_model_spec(text)
        if counts.get(spec.model_id, 0) > counts.get(best.model_id, 0):
            best = spec
    return best, (
        f"serving with {best.model_id} ({configured.model_id} covers {have} of "
        f"{stats.tracks} tracks; run python -m bot reindex)"
    )
