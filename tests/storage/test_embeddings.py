"""EmbeddingRepository: vectors per (track, model id), tags, the matrix, the revision."""

from collections.abc import Awaitable, Callable

import numpy as np
import pytest

from storage import Database, DimensionMismatchError

AddTrack = Callable[..., Awaitable[int]]


async def test_vector_round_trip_is_little_endian_float32(
    db: Database, add_track: AddTrack, rng: np.random.Generator
) -> None:
    track_id = await add_track()
    vector = rng.standard_normal(16)  # float64 in, float32 stored
    assert not await db.embeddings.has(track_id, "m")
    await db.embeddings.put(track_id, "m", vector)
    assert await db.embeddings.has(track_id, "m")
    assert not await db.embeddings.has(track_id, "other")

    stored = await db.embeddings.get(track_id, "m")
    assert stored is not None and stored.dtype == np.float32 and stored.shape == (16,)
    np.testing.assert_array_equal(stored, vector.astype(np.float32))
    row = await db.fetchone("SELECT dim, vector FROM embeddings WHERE track_id = ?", (track_id,))
    assert row is not None and row["dim"] == 16
    assert row["vector"] == vector.astype("<f4").tobytes()
    assert await db.embeddings.get(track_id, "other") is None


async def test_tags_are_kept_and_returned_most_probable_first(
    db: Database, add_track: AddTrack
) -> None:
    track_id = await add_track()
    await db.embeddings.put(track_id, "m", np.ones(4), {"rock": 0.2, "рок": 0.9, "jazz": 0.5})
    tags = await db.embeddings.get_tags(track_id, "m")
    assert tags is not None
    assert list(tags.items()) == [("рок", 0.9), ("jazz", 0.5), ("rock", 0.2)]
    await db.embeddings.put(track_id, "m", np.ones(4))  # replacing without tags drops them
    assert await db.embeddings.get_tags(track_id, "m") is None
    assert await db.embeddings.get_tags(track_id, "other") is None


@pytest.mark.parametrize(
    "vector", [np.zeros((2, 2)), np.zeros(0), np.array([1.0, np.nan]), np.array([np.inf])]
)
async def test_malformed_vectors_are_refused(
    db: Database, add_track: AddTrack, vector: np.ndarray
) -> None:
    track_id = await add_track()
    with pytest.raises(ValueError):
        await db.embeddings.put(track_id, "m", vector)
    with pytest.raises(ValueError):
        await db.embeddings.put(track_id, "m", np.ones(3), {"bad": float("nan")})
    assert not await db.embeddings.has(track_id, "m")


async def test_one_model_id_has_one_dimension(db: Database, add_track: AddTrack) -> None:
    first = await add_track(vector=np.ones(8))
    second = await add_track()
    with pytest.raises(DimensionMismatchError, match="8-d"):
        await db.embeddings.put(second, "m", np.ones(4))
    await db.embeddings.put(second, "other", np.ones(4))  # another model, another space
    await db.embeddings.put(first, "m", np.ones(8) * 2)  # replacing keeps the dimension
    with pytest.raises(DimensionMismatchError, match="expected 4"):
        await db.embeddings.load_matrix("m", dim=4)


async def test_load_matrix_rejects_inconsistent_stored_vectors(
    db: Database, add_track: AddTrack
) -> None:
    await add_track(vector=np.ones(2))
    other = await add_track()
    # Written around the repository, as a buggy tool or a manual edit could.
    await db.execute(
        "INSERT INTO embeddings (track_id, model_id, dim, vector) VALUES (?, 'm', 3, ?)",
        (other, np.ones(3, dtype="<f4").tobytes()),
    )
    with pytest.raises(DimensionMismatchError, match=r"\[2, 3\]"):
        await db.embeddings.load_matrix("m")


async def test_matrix_rows_follow_track_ids_and_never_mix_models(
    db: Database, add_track: AddTrack, rng: np.random.Generator
) -> None:
    vectors_a: dict[int, np.ndarray] = {}
    vectors_b: dict[int, np.ndarray] = {}
    for i in range(6):
        track_id = await add_track()
        if i % 3 != 2:
            vectors_a[track_id] = rng.standard_normal(8).astype(np.float32)
            await db.embeddings.put(track_id, "model-a", vectors_a[track_id])
        if i % 2 == 0:
            vectors_b[track_id] = rng.standard_normal(5).astype(np.float32)
            await db.embeddings.put(track_id, "model-b", vectors_b[track_id])

    for model_id, expected in (("model-a", vectors_a), ("model-b", vectors_b)):
        ids, matrix = await db.embeddings.load_matrix(model_id)
        assert ids.dtype == np.int64 and matrix.dtype == np.float32
        assert ids.tolist() == sorted(expected)
        assert matrix.shape == (len(expected), len(next(iter(expected.values()))))
        np.testing.assert_array_equal(matrix, np.stack([expected[i] for i in ids.tolist()]))
        assert not matrix.flags.writeable and not ids.flags.writeable
    assert await db.embeddings.model_ids() == ["model-a", "model-b"]


async def test_empty_model_gives_an_empty_matrix(db: Database) -> None:
    ids, matrix = await db.embeddings.load_matrix("nothing")
    assert ids.shape == (0,) and matrix.shape == (0, 0)
    ids, matrix = await db.embeddings.load_matrix("nothing", dim=128)
    assert ids.dtype == np.int64 and matrix.shape == (0, 128) and matrix.dtype == np.float32


async def test_removing_a_track_cascades_to_its_embeddings(
    db: Database, add_track: AddTrack
) -> None:
    keep = await add_track(vector=np.ones(4))
    gone = await add_track(vector=np.zeros(4))
    await db.embeddings.put(gone, "other", np.ones(2), {"pop": 0.5})
    assert await db.tracks.remove(gone)
    assert not await db.embeddings.has(gone, "m") and not await db.embeddings.has(gone, "other")
    row = await db.fetchone("SELECT count(*) FROM embeddings WHERE track_id = ?", (gone,))
    assert row is not None and row[0] == 0
    ids, _ = await db.embeddings.load_matrix("m")
    assert ids.tolist() == [keep]


async def test_revision_moves_with_every_vector_change_only(
    db: Database, add_track: AddTrack
) -> None:
    revisions = [await db.embeddings.revision()]

    async def changed() -> bool:
        revisions.append(await db.embeddings.revision())
        return revisions[-1] != revisions[-2]

    track_id = await add_track()
    assert not await changed()  # a track without a vector is not in any matrix
    await db.embeddings.put(track_id, "m", np.ones(4))
    assert await changed()
    await db.embeddings.put(track_id, "m", np.ones(4) * 2)
    assert await changed()
    await db.execute("UPDATE embeddings SET tags = '{}' WHERE track_id = ?", (track_id,))
    assert not await changed()  # tags are not part of the matrix
    await db.tracks.update_metadata(track_id, title="Renamed")
    assert not await changed()
    await db.tracks.remove(track_id)
    assert await changed()
