"""Attaching Yandex Music ids to catalog tracks imported from files: `python -m bot link-yandex`.

Each track without a Yandex id is searched for by "artist title"; ids are written only on a
confident match — artist and title equal once normalised (case, "ё", punctuation, spacing) and
durations within DURATION_TOLERANCE where both are known — and only when exactly one Yandex
track matches. Several matches are reported with their candidates for a person to choose (the
same recording is often on a single and an album); none is "not found".
"""

import asyncio
import re
import unicodedata
from dataclasses import dataclass, field

from catalog.batch import catalog_tracks
from catalog.names import printable
from catalog.yandex.client import UnavailableError, YandexCallError, YandexMusic, YandexTrack
from storage import Database, Track

DURATION_TOLERANCE = 3.0  # seconds; re-encodes and trimmed silence differ by a second or two
SEARCHES_AT_ONCE = 3
_NOT_WORD = re.compile(r"[\W_]+")
_ARTIST_SEPARATORS = re.compile(r"\s*(?:,|&|/|;|\bfeat\.?|\bft\.?|\bfeaturing\b)\s*", re.I)


def normalise(text: str | None) -> str:
    """Case, compatibility forms, "ё", punctuation and spacing folded away."""
    folded = unicodedata.normalize("NFKC", text or "").casefold().replace("ё", "е")
    return " ".join(_NOT_WORD.sub(" ", folded).split())


def _artist_set(names: list[str] | tuple[str, ...]) -> frozenset[str]:
    return frozenset(n for n in (normalise(name) for name in names) if n)


def artists_match(local: str | None, candidate: YandexTrack) -> bool:
    """The same artist, or the same set of artists however they are joined."""
    if not local or not candidate.artist:
        return False
    if normalise(local) == normalise(candidate.artist):
        return True
    return _artist_set(_ARTIST_SEPARATORS.split(local)) == _artist_set(candidate.artists)


def is_confident(local: Track, candidate: YandexTrack) -> bool:
    titles = {normalise(candidate.title), normalise(candidate.bare_title)}
    if normalise(local.title) not in titles or not artists_match(local.artist, candidate):
        return False
    if local.duration and candidate.duration:
        return abs(local.duration - candidate.duration) <= DURATION_TOLERANCE
    return True


@dataclass
class LinkReport:
    matched: list[tuple[Track, YandexTrack]] = field(default_factory=list)
    ambiguous: list[tuple[Track, list[YandexTrack]]] = field(default_factory=list)
    not_found: list[Track] = field(default_factory=list)
    failed: list[tuple[Track, str]] = field(default_factory=list)

    def lines(self, dry_run: bool) -> list[str]:
        """The report as printed by link-yandex (escaped for the terminal)."""
        head = (
            f"matched {len(self.matched)} · ambiguous {len(self.ambiguous)} · "
            f"not found {len(self.not_found)} · failed {len(self.failed)}"
        )
        if dry_run:
            head += " (dry run: nothing written)"
        lines = [head]
        lines += [f"  matched: {_name(t)} → {found.url}" for t, found in self.matched]
        for track, candidates in self.ambiguous:
            lines.append(f"  ambiguous: {_name(track)}: {len(candidates)} candidates")
            lines += [f"    {c.url}  {_candidate(c)}" for c in candidates]
        lines += [f"  not found: {_name(t)}" for t in self.not_found]
        lines += [f"  failed: {_name(t)}: {reason}" for t, reason in self.failed]
        return [printable(line) for line in lines]


def _name(track: Track) -> str:
    return f"#{track.id} {track.artist or '?'} — {track.title}"


def _candidate(track: YandexTrack) -> str:
    minutes, seconds = divmod(round(track.duration or 0), 60)
    return f"{track.artist} — {track.title} · {track.album or '-'} · {minutes}:{seconds:02d}"


async def unlinked_tracks(database: Database) -> list[Track]:
    """Catalog tracks without a Yandex track id, in import order."""
    return [track async for track in catalog_tracks(database) if not track.yandex_track_id]


async def link_catalog(database: Database, music: YandexMusic, *, dry_run: bool) -> LinkReport:
    """Search for every unlinked track and write the confident matches (unless `dry_run`)."""
    report = LinkReport()
    searches = asyncio.Semaphore(SEARCHES_AT_ONCE)

    async def one(track: Track) -> None:
        if not track.artist:
            report.not_found.append(track)  # a title alone is never a confident match
            return
        try:
            async with searches:
                results = await music.search_tracks(f"{track.artist} {track.title}")
        except (YandexCallError, UnavailableError) as error:
            report.failed.append((track, error.reason))
            return
        by_id = {c.track_id: c for c in results if is_confident(track, c)}
        if len(by_id) == 1:
            (found,) = by_id.values()
            if not dry_run:
                await database.tracks.update_metadata(
                    track.id, yandex_track_id=found.track_id, yandex_album_id=found.album_id
                )
            report.matched.append((track, found))
        elif by_id:
            report.ambiguous.append((track, list(by_id.values())))
        else:
            report.not_found.append(track)

    await asyncio.gather(*(one(track) for track in await unlinked_tracks(database)))
    for outcome in (report.matched, report.ambiguous, report.failed):
        outcome.sort(key=lambda pair: pair[0].id)
    report.not_found.sort(key=lambda track: track.id)
    return report
