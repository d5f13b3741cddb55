"""Indexing music into the catalog: `python -m bot import PATH... [--meta FILE.csv]`.

Files are recognised by content hash: a file already embedded with this model costs one hash and
one lookup, so a rerun after an interruption continues where it stopped. Each track is committed
as soon as its embedding arrives; one bad file is a line in the summary, never the end of the run.
"""

import asyncio
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalog.batch import each_bounded, summary_lines
from catalog.metadata import MetadataTable, TrackMetadata, metadata_for
from catalog.names import clean_name
from core.audio import looks_like_audio
from core.embedding import TrackEmbedding
from core.embedding_service import EMBED_FAILURES, Embedder, failure_reason
from core.hashing import sha256_of
from storage import Database, DuplicateTrackError, Track


@dataclass
class ImportSummary:
    added: int = 0
    present: int = 0
    updated: int = 0
    skipped: int = 0  # files found while walking folders that are not audio
    failures: list[tuple[Path | str, str]] = field(default_factory=list)  # (file or name, why)
    # tracks a streaming service would not hand out (region, rights, removed); Yandex imports
    unavailable: list[tuple[str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The summary as printed at the end of an import (escaped for the terminal)."""
        counts = [
            f"added {self.added}",
            f"already present {self.present}",
            f"metadata updated {self.updated}",
            f"failed {len(self.failures)}",
        ]
        if self.unavailable:
            counts.append(f"unavailable {len(self.unavailable)}")
        if self.skipped:
            counts.append(f"skipped {self.skipped} non-audio file(s)")
        return summary_lines(
            counts,
            [("unavailable", f"{name}: {why}") for name, why in self.unavailable]
            + [("failed", f"{path}: {why}") for path, why in self.failures],
        )


def audio_files_under(paths: Iterable[Path], summary: ImportSummary) -> list[Path]:
    """The audio files under `paths`, sorted; missing paths become failures.

    A file named on the command line is always tried (ffmpeg decides); inside folders, files
    that neither look nor are named like audio (cover art, playlists, notes) are skipped.
    """
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            for child in _walk(path):
                if looks_like_audio(child):
                    found[child] = None
                else:
                    summary.skipped += 1
        elif path.is_file():
            found[path] = None
        else:
            summary.failures.append((path, "no such file or folder"))
    return list(found)


def _walk(folder: Path) -> Iterator[Path]:
    for child in sorted(folder.rglob("*")):
        if child.is_file() and not any(part.startswith(".") for part in child.parts[-1:]):
            yield child


def _csv_changes(track: Track, row: TrackMetadata | None) -> dict[str, Any]:
    """The CSV values that differ from what the catalog has for `track` (text fields only, as
    keyword arguments of TrackRepository.update_metadata)."""
    if row is None:
        return {}
    names = ("title", "artist", "album", "yandex_track_id", "yandex_album_id")
    return {
        name: getattr(row, name)
        for name in names
        if getattr(row, name) is not None and getattr(row, name) != getattr(track, name)
    }


class Importer:
    """Feeds files through the embedding workers and commits each result as it arrives."""

    def __init__(
        self,
        database: Database,
        service: Embedder,
        table: MetadataTable | None = None,
    ) -> None:
        self.database = database
        self.service = service
        self.table = table
        self.summary = ImportSummary()
        self._hashes_in_flight: set[str] = set()

    async def run(self, paths: Iterable[Path]) -> ImportSummary:
        files = audio_files_under(paths, self.summary)
        # twice the workers in flight: each worker has its next file ready when it finishes one
        await each_bounded(files, 2 * self.service.workers, self.import_file)
        return self.summary

    async def import_file(
        self,
        path: Path,
        known: TrackMetadata | None = None,
        *,
        source: str | None = None,
        label: str | None = None,
    ) -> None:
        """Embed and commit one file, counted in the summary.

        `known` metadata (a streaming service's) replaces the CSV row, tags and file name;
        `source` is stored instead of the file's path; `label` names it among the failures.
        """
        name: Path | str = label or path
        try:
            digest = await asyncio.to_thread(sha256_of, path)
        except OSError as error:
            self.summary.failures.append((name, f"cannot read: {error.strerror}"))
            return
        row = known or (self.table.rows.get(path.resolve()) if self.table else None)
        track = await self.database.tracks.find_by_sha256(digest)
        if await self._present(digest, track, row, known is not None):
            return
        self._hashes_in_flight.add(digest)
        try:
            embedding = await self.service.embed(path)
        except EMBED_FAILURES as error:
            self.summary.failures.append((name, failure_reason(error)))
            return
        await self._commit(track, digest, embedding, path, known, source)

    async def import_embedded(
        self, digest: str, embedding: TrackEmbedding, known: TrackMetadata, *, source: str
    ) -> None:
        """Commit a track embedded from a URL (Embedder.embed_url), known by the sha256 of its
        bytes: counted like `import_file` (added, or already present)."""
        track = await self.database.tracks.find_by_sha256(digest)
        if await self._present(digest, track, known, True):
            return
        self._hashes_in_flight.add(digest)
        await self._commit(track, digest, embedding, None, known, source)

    async def _present(
        self, digest: str, track: Track | None, row: TrackMetadata | None, from_service: bool
    ) -> bool:
        """Whether these bytes are in the catalog with this model's vector already (or being
        embedded now); if so the track's metadata is updated from `row` and it is counted."""
        if digest not in self._hashes_in_flight and (
            track is None or not await self.database.embeddings.has(track.id, self.service.model_id)
        ):
            return False
        changes = _csv_changes(track, row) if track is not None else {}
        if from_service and track is not None:  # a service's names only fill gaps:
            # the same bytes under two track ids must not flip the stored ids on each run
            changes = {k: v for k, v in changes.items() if getattr(track, k) is None}
        if track is not None and changes:
            await self.database.tracks.update_metadata(track.id, **changes)
            self.summary.updated += 1
        else:
            self.summary.present += 1
        return True

    async def _commit(
        self,
        track: Track | None,
        digest: str,
        embedding: TrackEmbedding,
        path: Path | None,
        known: TrackMetadata | None,
        source: str | None,
    ) -> None:
        if track is None:
            track = await self._add_track(path, digest, embedding.seconds_analysed, known, source)
        await self.database.embeddings.put(
            track.id, self.service.model_id, embedding.vector, embedding.sections
        )
        self.summary.added += 1

    async def _add_track(
        self,
        path: Path | None,
        digest: str,
        seconds: float,
        known: TrackMetadata | None = None,
        source: str | None = None,
    ) -> Track:
        if known is not None:
            metadata = known
        else:
            assert path is not None, "a track without a file comes with its metadata"
            metadata = await asyncio.to_thread(metadata_for, path, self.table)
        stem = clean_name(path.stem) if path is not None else None
        try:
            track_id = await self.database.tracks.add(
                digest,
                metadata.title or stem or digest[:12],
                artist=metadata.artist,
                album=metadata.album,
                duration=metadata.duration or seconds,
                yandex_track_id=metadata.yandex_track_id,
                yandex_album_id=metadata.yandex_album_id,
                source_path=source or str(path.resolve() if path is not None else digest),
            )
        except DuplicateTrackError as duplicate:  # another process added it meanwhile
            track_id = duplicate.track_id
        track = await self.database.tracks.get(track_id)
        assert track is not None
        return track
