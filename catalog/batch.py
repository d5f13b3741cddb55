"""What the catalog's long runs share (import, import-yandex, reindex, link-yandex): work over
many tracks a bounded number at a time behind a progress bar, the catalog read a page at a time,
and a summary's lines."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

from tqdm import tqdm

from catalog.names import printable
from storage import Database, Track

T = TypeVar("T")
PAGE = 500  # tracks read from the catalog at a time


async def each_bounded(
    items: Sequence[T], at_once: int, work: Callable[[T], Awaitable[None]]
) -> None:
    """`work(item)` for every item, at most `at_once` at a time, with a progress bar (tracks/s,
    ETA) on a terminal and silence in logs and tests (tqdm's disable=None)."""
    slots = asyncio.Semaphore(at_once)
    with tqdm(total=len(items), unit="track", disable=None) as bar:

        async def one(item: T) -> None:
            async with slots:
                await work(item)
            bar.update(1)

        await asyncio.gather(*(one(item) for item in items))


async def catalog_tracks(database: Database) -> AsyncIterator[Track]:
    """Every catalog track in import order, read PAGE at a time."""
    offset = 0
    while page := await database.tracks.list(PAGE, offset):
        offset += len(page)
        for track in page:
            yield track


def summary_lines(counts: Iterable[str], details: Iterable[tuple[str, object]]) -> list[str]:
    """`added 3 · failed 1`, then `  failed: NAME: why` for each (kind, text) detail; names come
    from outside (tags, file names, API answers), so each line is escaped for the terminal."""
    return [" · ".join(counts)] + [printable(f"  {kind}: {text}") for kind, text in details]
