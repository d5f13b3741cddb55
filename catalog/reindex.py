"""Moving a catalog to a new model: `python -m bot reindex [--workers N]`.

Every catalog track without a vector of the configured model is embedded and stored: from its
source file while it is still there (with the content it was imported with), else, for a track
imported from Yandex Music, from its audio fetched again the one way every Yandex track is
(`YandexMusic.embed`: the local pool downloads into a private folder and deletes it once
embedded, a Ray actor downloads it itself). Each vector is committed as it arrives, so the
command resumes where it stopped. Until the new model covers the whole catalog, the bot keeps
serving with the model that covers most of it (catalog.serving).
"""

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from catalog.batch import catalog_tracks, each_bounded, summary_lines
from catalog.yandex.client import UnavailableError, YandexCallError, YandexMusic
from catalog.yandex.links import TrackLink
from core.embedding import TrackEmbedding
from core.embedding_service import EMBED_FAILURES, Embedder, failure_reason
from core.hashing import sha256_of
from storage import Database, Track


@dataclass
class ReindexSummary:
    embedded: int = 0
    downloaded: int = 0  # of the embedded, fetched again from Yandex Music
    present: int = 0
    unreachable: list[tuple[Track, str]] = field(default_factory=list)
    failures: list[tuple[Track, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The summary as printed at the end of a reindex (escaped for the terminal)."""
        counts = [
            f"embedded {self.embedded}",
            f"already had the model {self.present}",
            f"audio unreachable {len(self.unreachable)}",
            f"failed {len(self.failures)}",
        ]
        if self.downloaded:
            counts.append(f"downloaded from Yandex Music {self.downloaded}")
        return summary_lines(
            counts,
            [("unreachable", f"#{t.id} {t.title}: {why}") for t, why in self.unreachable]
            + [("failed", f"#{t.id} {t.title}: {why}") for t, why in self.failures],
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
        """`music` lets Yandex Music tracks be fetched again; the local pool streams them into
        the private `downloads` folder (catalog.yandex.importer.download_folder)."""
        self.database = database
        self.model_id = model_id
        self.music = music
        self.downloads = downloads
        self.summary = ReindexSummary()

    async def missing(self) -> list[Track]:
        """Catalog tracks without a vector of the model (or without its sections), in import
        order."""
        result: list[Track] = []
        async for track in catalog_tracks(self.database):
            if await self.database.embeddings.has_sections(track.id, self.model_id):
                self.summary.present += 1
            else:
                result.append(track)
        return result

    async def run(self, tracks: list[Track], service: Embedder) -> ReindexSummary:
        """Embed `tracks` (from `missing`) in the service's workers, committing each vector."""
        if service.model_id != self.model_id:
            raise ValueError(f"workers embed with {service.model_id}, not {self.model_id}")

        async def one(track: Track) -> None:
            await self._reindex(track, service)

        await each_bounded(tracks, 2 * service.workers, one)
        return self.summary

    async def _reindex(self, track: Track, service: Embedder) -> None:
        path, reason = await asyncio.to_thread(_source_of, track)
        if path is None and track.yandex_track_id:
            embedding, reason = await self._fetched(track, service)
            if embedding is not None:
                self.summary.downloaded += 1
                await self._store(track, embedding)
            elif reason:
                self.summary.unreachable.append((track, reason))
            return
        if path is None:
            self.summary.unreachable.append((track, reason))
            return
        try:
            embedding = await service.embed(path)
        except EMBED_FAILURES as error:
            self.summary.failures.append((track, failure_reason(error)))
            return
        await self._store(track, embedding)

    async def _store(self, track: Track, embedding: TrackEmbedding) -> None:
        await self.database.embeddings.put(
            track.id, self.model_id, embedding.vector, embedding.sections
        )
        self.summary.embedded += 1

    async def _fetched(self, track: Track, service: Embedder) -> tuple[TrackEmbedding | None, str]:
        """A Yandex Music track's audio fetched again and embedded, or None and why it is
        unreachable ("" when the failure is counted already)."""
        assert track.yandex_track_id is not None
        if self.music is None or self.downloads is None or not self.music.has_token:
            return None, "a Yandex Music track: set YANDEX_MUSIC_TOKEN to download it again"
        link = TrackLink(track.yandex_track_id, track.yandex_album_id)
        into = self.downloads / f"{track.yandex_track_id}.mp3"  # a checked id: digits only
        try:
            found = await self.music.tracks_for(link)
            if not found:
                return None, "Yandex Music no longer lists it"
            if found[0].unavailable:
                return None, f"Yandex Music: {found[0].unavailable}"
            return (await self.music.embed(found[0], service, into)).embedding, ""
        except UnavailableError as error:
            return None, f"Yandex Music: {error.reason}"
        except YandexCallError as error:
            self.summary.failures.append((track, f"Yandex Music: {error.reason}"))
        except EMBED_FAILURES as error:
            self.summary.failures.append((track, failure_reason(error)))
        finally:
            into.unlink(missing_ok=True)
        return None, ""
