"""Two connections to one file used at once, as the bot and the import CLI do."""

import asyncio
from pathlib import Path

import numpy as np

from storage import CatalogCache, Database

ROWS = 300


async def write_tracks(db: Database, prefix: str, count: int) -> list[int]:
    """Add `count` tracks with 4-d vectors, one short transaction each, as an import does."""
    ids = []
    for i in range(count):
        digest = f"{prefix}{i:08x}".ljust(64, "0")
        track_id = await db.tracks.add(digest, f"{prefix} {i}")
        await db.embeddings.put(track_id, "m", np.full(4, i, dtype=np.float32))
        ids.append(track_id)
        await asyncio.sleep(0)
    return ids


async def test_reader_and_writer_on_two_connections(db_path: Path) -> None:
    async with Database(db_path) as writer, Database(db_path) as reader:
        cache = CatalogCache(reader.embeddings, "m")
        writing = asyncio.create_task(write_tracks(writer, "a", ROWS))
        seen: list[int] = []

        async def read() -> None:
            while not writing.done():
                catalog = await cache.get()
                count = (await reader.tracks.stats()).tracks
                # Every embedded track is a track; a snapshot never shows a torn row.
                assert len(catalog) <= count
                if len(catalog):
                    assert catalog.matrix.shape == (len(catalog), 4)
                    rows = await reader.tracks.get_many(catalog.track_ids[-5:])
                    assert [t.id for t in rows] == catalog.track_ids[-5:].tolist()
                seen.append(len(catalog))
                await asyncio.sleep(0)

        written, _ = await asyncio.gather(writing, read())
        assert len(written) == ROWS
        assert seen == sorted(seen) and len(seen) > 1  # it read while the writer wrote
        final = await cache.get()
        assert final.track_ids.tolist() == written
        np.testing.assert_array_equal(final.matrix[:, 0], np.arange(ROWS, dtype=np.float32))


async def test_two_writers_wait_for_each_other(db_path: Path) -> None:
    async with Database(db_path) as first, Database(db_path) as second:
        a, b = await asyncio.gather(
            write_tracks(first, "a", ROWS // 2), write_tracks(second, "b", ROWS // 2)
        )
        assert len(set(a) | set(b)) == ROWS
        assert (await first.tracks.stats()).tracks == ROWS
        catalog = await second.embeddings.load_catalog("m")
        assert catalog.track_ids.tolist() == sorted(a + b) and catalog.matrix.shape == (ROWS, 4)
