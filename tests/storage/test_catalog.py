"""CatalogCache: one model's matrix in memory, reloaded when any connection changes it."""

from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import pytest

from storage import CatalogCache, Database, DimensionMismatchError

AddTrack = Callable[..., Awaitable[int]]


async def test_cache_reloads_only_after_a_change(db: Database, add_track: AddTrack) -> None:
    first = await add_track(vector=np.ones(4))
    cache = CatalogCache(db.embeddings, "m")
    catalog = await cache.get()
    assert catalog.track_ids.tolist() == [first] and catalog.dim == 4 and len(catalog) == 1
    assert await cache.get() is catalog
    assert cache.loads == 1

    second = await add_track(vector=np.zeros(4))
    reloaded = await cache.get()
    assert reloaded.track_ids.tolist() == [first, second]
    assert reloaded.revision > catalog.revision and cache.loads == 2
    assert await cache.get() is reloaded and cache.loads == 2


async def test_cache_sees_changes_made_through_another_connection(
    db: Database, db_path: Path, add_track: AddTrack, rng: np.random.Generator
) -> None:
    await add_track(vector=rng.standard_normal(8))
    cache = CatalogCache(db.embeddings, "m")
    assert len(await cache.get()) == 1

    async with Database(db_path) as other:  # e.g. the import CLI in another process
        vector = rng.standard_normal(8).astype(np.float32)
        added = await add_track(database=other, vector=vector)
        catalog = await cache.get()
        assert catalog.track_ids.tolist()[-1] == added
        np.testing.assert_array_equal(catalog.matrix[-1], vector)

        await other.tracks.remove(added)
        assert added not in (await cache.get()).track_ids.tolist()
    assert cache.loads == 3


async def test_cached_matrix_holds_only_its_model(db: Database, add_track: AddTrack) -> None:
    shared = await add_track(vector=np.ones(3))
    cache = CatalogCache(db.embeddings, "m")
    await db.embeddings.put(shared, "other", np.full(7, 5.0))
    await add_track(vector=np.full(7, 5.0), model_id="other")
    catalog = await cache.get()
    assert catalog.model_id == "m" and catalog.matrix.shape == (1, 3)
    np.testing.assert_array_equal(catalog.matrix, np.ones((1, 3)))


async def test_a_model_without_vectors_is_an_empty_catalog(
    db: Database, add_track: AddTrack
) -> None:
    await add_track(vector=np.ones(3))
    empty = await CatalogCache(db.embeddings, "unused").get()
    assert len(empty) == 0 and empty.matrix.shape == (0, 0) and empty.track_ids.dtype == np.int64


async def test_inconsistent_stored_vectors_are_an_error(db: Database, add_track: AddTrack) -> None:
    await add_track(vector=np.ones(3))
    other = await add_track()
    # Written around the repository, as a buggy tool or a manual edit could.
    await db.connector.execute(
        "INSERT INTO embeddings (track_id, model_id, dim, vector) VALUES (?, 'm', 4, ?)",
        (other, np.ones(4, dtype="<f4").tobytes()),
    )
    with pytest.raises(DimensionMismatchError, match=r"\[3, 4\]"):
        await CatalogCache(db.embeddings, "m").get()


async def test_tracks_added_are_appended_giving_the_catalog_a_full_load_gives(
    db: Database, db_path: Path, add_track: AddTrack, rng: np.random.Generator
) -> None:
    """An import through another connection: each refresh reads only the new rows, and the
    snapshot equals a full load, row for row; earlier snapshots are left as they were."""
    for vector in rng.standard_normal((3, 8)):
        await add_track(vector=vector)
    cache = CatalogCache(db.embeddings, "m")
    first = await cache.get()
    kept = first.matrix.copy()
    async with Database(db_path) as importer:
        for batch in (1, 70, 2):  # 70 outgrow the room: the rows are copied into more
            for vector in rng.standard_normal((batch, 8)):
                await add_track(database=importer, vector=vector)
            catalog = await cache.get()
            full = await db.embeddings.load_catalog("m")
            assert catalog.revision == full.revision
            np.testing.assert_array_equal(catalog.matrix, full.matrix)
            np.testing.assert_array_equal(catalog.track_ids, full.track_ids)
            assert catalog.extends(first) and not catalog.matrix.flags.writeable
    assert cache.loads == 4 and cache.appends == 3
    np.testing.assert_array_equal(first.matrix, kept)  # a query's snapshot never changes


@pytest.mark.parametrize("change", ["replaced", "removed"])
async def test_a_replaced_or_removed_vector_reloads_the_whole_catalog(
    db: Database, add_track: AddTrack, rng: np.random.Generator, change: str
) -> None:
    ids = [await add_track(vector=vector) for vector in rng.standard_normal((4, 8))]
    cache = CatalogCache(db.embeddings, "m")
    first = await cache.get()
    if change == "replaced":  # same track, same model, same count: only the revision tells
        await db.embeddings.put(ids[1], "m", np.ones(8))
    else:
        await db.tracks.remove(ids[1])
    await add_track(vector=np.zeros(8))
    catalog = await cache.get()
    full = await db.embeddings.load_catalog("m")
    np.testing.assert_array_equal(catalog.matrix, full.matrix)
    assert catalog.track_ids.tolist() == full.track_ids.tolist()
    assert cache.appends == 0 and cache.loads == 2 and not catalog.extends(first)
