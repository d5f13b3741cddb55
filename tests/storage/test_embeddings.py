"""EmbeddingRepository: vectors per (track, model id), the catalog, the revision, renames."""

from collections.abc import Awaitable, Callable

import numpy as np
import pytest

from storage import Database, DimensionMismatchError
from storage import embeddings as embeddings_module

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

    catalog = await db.embeddings.load_catalog("m")
    assert catalog.track_ids.tolist() == [track_id]
    assert catalog.matrix.dtype == np.float32 and catalog.matrix.shape == (1, 16)
    np.testing.assert_array_equal(catalog.matrix[0], vector.astype(np.float32))
    row = await db.connector.fetchone(
        "SELECT dim, vector FROM embeddings WHERE track_id = ?", (track_id,)
    )
    assert row is not None and row["dim"] == 16
    assert row["vector"] == vector.astype("<f4").tobytes()
    assert len(await db.embeddings.load_catalog("other")) == 0


@pytest.mark.parametrize(
    "vector", [np.zeros((2, 2)), np.zeros(0), np.array([1.0, np.nan]), np.array([np.inf])]
)
async def test_malformed_vectors_are_refused(
    db: Database, add_track: AddTrack, vector: np.ndarray
) -> None:
    track_id = await add_track()
    with pytest.raises(ValueError):
        await db.embeddings.put(track_id, "m", vector)
    assert not await db.embeddings.has(track_id, "m")


async def test_one_model_id_has_one_dimension(db: Database, add_track: AddTrack) -> None:
    first = await add_track(vector=np.ones(8))
    second = await add_track()
    with pytest.raises(DimensionMismatchError, match="8-d"):
        await db.embeddings.put(second, "m", np.ones(4))
    await db.embeddings.put(second, "other", np.ones(4))  # another model, another space
    await db.embeddings.put(first, "m", np.ones(8) * 2)  # replacing keeps the dimension
    catalog = await db.embeddings.load_catalog("m")
    assert catalog.track_ids.tolist() == [first]
    np.testing.assert_array_equal(catalog.matrix, np.full((1, 8), 2.0))
    await db.embeddings.put(first, "m", np.ones(3))  # its only vector: the model may change
    assert (await db.embeddings.load_catalog("m")).dim == 3


async def test_load_catalog_rejects_inconsistent_stored_vectors(
    db: Database, add_track: AddTrack
) -> None:
    await add_track(vector=np.ones(2))
    other = await add_track()
    # Written around the repository, as a buggy tool or a manual edit could.
    await db.connector.execute(
        "INSERT INTO embeddings (track_id, model_id, dim, vector) VALUES (?, 'm', 3, ?)",
        (other, np.ones(3, dtype="<f4").tobytes()),
    )
    with pytest.raises(DimensionMismatchError, match=r"\[2, 3\]"):
        await db.embeddings.load_catalog("m")


async def test_catalog_rows_follow_track_ids_and_never_mix_models(
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
        catalog = await db.embeddings.load_catalog(model_id)
        ids, matrix = catalog.track_ids, catalog.matrix
        assert catalog.model_id == model_id
        assert ids.dtype == np.int64 and matrix.dtype == np.float32
        assert ids.tolist() == sorted(expected)
        assert matrix.shape == (len(expected), len(next(iter(expected.values()))))
        np.testing.assert_array_equal(matrix, np.stack([expected[i] for i in ids.tolist()]))
        assert not matrix.flags.writeable and not ids.flags.writeable


async def test_empty_model_gives_an_empty_catalog(db: Database) -> None:
    catalog = await db.embeddings.load_catalog("nothing")
    assert catalog.track_ids.shape == (0,) and catalog.track_ids.dtype == np.int64
    assert catalog.matrix.shape == (0, 0) and catalog.matrix.dtype == np.float32
    assert catalog.revision == await db.embeddings.revision()


async def test_removing_a_track_cascades_to_its_embeddings(
    db: Database, add_track: AddTrack
) -> None:
    keep = await add_track(vector=np.ones(4))
    gone = await add_track(vector=np.zeros(4))
    await db.embeddings.put(gone, "other", np.ones(2))
    assert await db.tracks.remove(gone)
    assert not await db.embeddings.has(gone, "m") and not await db.embeddings.has(gone, "other")
    row = await db.connector.fetchone("SELECT count(*) FROM embeddings WHERE track_id = ?", (gone,))
    assert row is not None and row[0] == 0
    assert (await db.embeddings.load_catalog("m")).track_ids.tolist() == [keep]


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
    await db.tracks.update_metadata(track_id, title="Renamed")
    assert not await changed()
    await db.embeddings.rename_model("m", "m2")
    assert await changed()
    await db.embeddings.rename_model("nothing", "m3")
    assert not await changed()
    await db.tracks.remove(track_id)
    assert await changed()


async def test_rename_model_moves_vectors_and_keeps_those_already_there(
    db: Database, add_track: AddTrack
) -> None:
    only_old = await add_track(vector=np.full(4, 1.0), model_id="msd-vgg/pool5")
    both = await add_track(vector=np.full(4, 2.0), model_id="msd-vgg/pool5")
    await db.embeddings.put(both, "msd_vgg/pool5", np.full(4, 3.0))
    unrelated = await add_track(vector=np.full(6, 4.0), model_id="other")
    cache_revision = await db.embeddings.revision()

    assert await db.embeddings.rename_model("msd-vgg/pool5", "msd_vgg/pool5") == 1

    assert len(await db.embeddings.load_catalog("msd-vgg/pool5")) == 0
    renamed = await db.embeddings.load_catalog("msd_vgg/pool5")
    assert renamed.track_ids.tolist() == [only_old, both]
    np.testing.assert_array_equal(renamed.matrix[:, 0], [1.0, 3.0])  # `both` kept its new one
    assert renamed.revision > cache_revision
    assert (await db.embeddings.load_catalog("other")).track_ids.tolist() == [unrelated]
    assert await db.embeddings.rename_model("msd-vgg/pool5", "msd_vgg/pool5") == 0
    assert await db.embeddings.rename_model("other", "other") == 0


async def test_rename_model_refuses_to_mix_vector_lengths(
    db: Database, add_track: AddTrack
) -> None:
    old = await add_track(vector=np.ones(4), model_id="old")
    await add_track(vector=np.ones(8), model_id="new")
    revision = await db.embeddings.revision()
    with pytest.raises(DimensionMismatchError, match="4-d"):
        await db.embeddings.rename_model("old", "new")
    assert (await db.embeddings.load_catalog("old")).track_ids.tolist() == [old]  # untouched
    assert await db.embeddings.revision() == revision


async def test_sections_are_stored_as_float16_and_a_vector_without_them_stands_for_its_track(
    db: Database, add_track: AddTrack, rng: np.random.Generator
) -> None:
    with_sections, without = await add_track(), await add_track()
    sections = rng.standard_normal((6, 16)).astype(np.float32)
    vector = rng.standard_normal(16).astype(np.float32)
    revision = await db.embeddings.revision()
    await db.embeddings.put(with_sections, "m", vector, sections)
    await db.embeddings.put(without, "m", vector)
    assert await db.embeddings.revision() == revision + 2  # sections change nothing more
    assert await db.embeddings.has_sections(with_sections, "m")
    assert not await db.embeddings.has_sections(without, "m")

    found = await db.embeddings.sections("m", [without, with_sections, 999, with_sections])
    assert sorted(found) == sorted([with_sections, without])  # no vector, no entry
    np.testing.assert_array_equal(found[with_sections], sections.astype(np.float16))
    assert found[with_sections].dtype == np.float32
    np.testing.assert_array_equal(found[without], vector[None, :])
    assert await db.embeddings.sections("other", [with_sections]) == {}
    row = await db.connector.fetchone(
        "SELECT sections FROM embeddings WHERE track_id = ?", (with_sections,)
    )
    assert row is not None and row["sections"] == sections.astype("<f2").tobytes()

    await db.embeddings.put(with_sections, "m", vector)  # replaced without: none kept
    assert not await db.embeddings.has_sections(with_sections, "m")


@pytest.mark.parametrize(
    "sections", [np.zeros((0, 4)), np.zeros((2, 3)), np.zeros(4), np.full((1, 4), np.nan)]
)
async def test_malformed_sections_are_refused_with_their_vector(
    db: Database, add_track: AddTrack, sections: np.ndarray
) -> None:
    track_id = await add_track()
    with pytest.raises(ValueError):
        await db.embeddings.put(track_id, "m", np.ones(4), sections)
    assert not await db.embeddings.has(track_id, "m")


async def test_many_tracks_sections_are_read_in_bounded_statements(
    db: Database, add_track: AddTrack
) -> None:
    ids = [await add_track() for _ in range(1200)]
    for track_id in ids:
        await db.embeddings.put(track_id, "m", np.ones(2), np.ones((3, 2)))
    found = await db.embeddings.sections("m", ids)
    assert sorted(found) == ids and all(rows.shape == (3, 2) for rows in found.values())


@pytest.mark.parametrize("chunk", [1, 3, 7, 100])
async def test_load_catalog_reads_in_chunks_into_one_matrix(
    db: Database,
    add_track: AddTrack,
    rng: np.random.Generator,
    monkeypatch: pytest.MonkeyPatch,
    chunk: int,
) -> None:
    monkeypatch.setattr(embeddings_module, "LOAD_CHUNK", chunk)
    vectors = rng.standard_normal((7, 5)).astype(np.float32)
    ids = [await add_track(vector=vector) for vector in vectors]
    await add_track()  # a track without a vector of the model
    catalog = await db.embeddings.load_catalog("m")
    assert catalog.track_ids.tolist() == ids
    np.testing.assert_array_equal(catalog.matrix, vectors)
    assert not catalog.matrix.flags.writeable and not catalog.track_ids.flags.writeable


async def test_load_catalog_rejects_lengths_that_differ_between_chunks(
    db: Database, add_track: AddTrack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embeddings_module, "LOAD_CHUNK", 1)
    await add_track(vector=np.ones(2))
    other = await add_track()
    await db.connector.execute(
        "INSERT INTO embeddings (track_id, model_id, dim, vector) VALUES (?, 'm', 3, ?)",
        (other, np.ones(3, dtype="<f4").tobytes()),
    )
    with pytest.raises(DimensionMismatchError, match=r"\[2, 3\]"):
        await db.embeddings.load_catalog("m")


async def test_vectors_reads_the_listed_tracks_of_one_model_only(
    db: Database, add_track: AddTrack, rng: np.random.Generator
) -> None:
    first, second, bare = await add_track(), await add_track(), await add_track()
    stored = {first: rng.standard_normal(8), second: rng.standard_normal(8)}
    for track_id, vector in stored.items():
        await db.embeddings.put(track_id, "m", vector)
    await db.embeddings.put(bare, "other", rng.standard_normal(8))

    found = await db.embeddings.vectors("m", [second, bare, first, second, 10**9])

    assert sorted(found) == sorted(stored)  # no vector of "m": absent, whatever else it has
    for track_id, vector in stored.items():
        np.testing.assert_array_equal(found[track_id], vector.astype(np.float32))
    assert await db.embeddings.vectors("m", []) == {}


async def test_put_many_stores_vectors_in_one_transaction_validated_as_put(
    db: Database, add_track: AddTrack, rng: np.random.Generator
) -> None:
    ids = [await add_track() for _ in range(5)]
    vectors = rng.standard_normal((5, 6))
    before = await db.embeddings.revision()
    await db.embeddings.put_many("m", list(zip(ids, vectors, strict=True)))
    catalog = await db.embeddings.load_catalog("m")
    assert catalog.track_ids.tolist() == ids and catalog.revision == before + 5
    np.testing.assert_array_equal(catalog.matrix, vectors.astype(np.float32))
    assert await db.embeddings.count("m") == 5 and await db.embeddings.count("other") == 0
    with pytest.raises(DimensionMismatchError):  # another length than the model stores
        await db.embeddings.put_many("m", [(ids[0], np.ones(7))])
    with pytest.raises(DimensionMismatchError):  # lengths that differ among themselves
        await db.embeddings.put_many("new", [(ids[0], np.ones(2)), (ids[1], np.ones(3))])
    with pytest.raises(ValueError):  # not finite: nothing of the batch is stored
        await db.embeddings.put_many("new", [(ids[0], np.ones(2)), (ids[1], [1.0, np.nan])])
    assert await db.embeddings.count("new") == 0


async def test_rows_after_streams_a_model_by_track_id_with_its_count(
    db: Database, add_track: AddTrack, rng: np.random.Generator
) -> None:
    vectors = rng.standard_normal((7, 4)).astype(np.float32)
    ids = [await add_track(vector=vector) for vector in vectors]
    await add_track(vector=np.ones(3), model_id="other")
    first = await db.embeddings.rows_after("m", None, 3)
    assert first.track_ids.tolist() == ids[:3] and first.total is None
    np.testing.assert_array_equal(first.matrix, vectors[:3])
    rest = await db.embeddings.rows_after("m", ids[2], 10, total=True)
    assert rest.track_ids.tolist() == ids[3:] and rest.total == 7
    np.testing.assert_array_equal(rest.matrix, vectors[3:])
    assert len(await db.embeddings.rows_after("m", ids[-1], 10)) == 0


async def test_added_since_names_the_rows_added_when_that_is_all_that_changed(
    db: Database, add_track: AddTrack, rng: np.random.Generator
) -> None:
    vectors = rng.standard_normal((5, 4)).astype(np.float32)
    ids = [await add_track(vector=vector) for vector in vectors[:3]]
    before = await db.embeddings.load_catalog("m")
    unchanged = await db.embeddings.added_since("m", before.revision, ids[-1])
    assert unchanged is not None and len(unchanged) == 0
    assert unchanged.revision == before.revision
    ids += [await add_track(vector=vector) for vector in vectors[3:]]
    added = await db.embeddings.added_since("m", before.revision, ids[2])
    assert added is not None and added.track_ids.tolist() == ids[3:]
    np.testing.assert_array_equal(added.matrix, vectors[3:])
    assert added.revision == (await db.embeddings.load_catalog("m")).revision


@pytest.mark.parametrize("change", ["replaced", "removed", "other model", "removed and added"])
async def test_added_since_refuses_when_anything_else_changed(
    db: Database, add_track: AddTrack, rng: np.random.Generator, change: str
) -> None:
    """A replaced or removed vector, or another model's, moves the revision by more than the
    rows added: only a full load gives the catalog then."""
    ids = [await add_track(vector=vector) for vector in rng.standard_normal((3, 4))]
    before = await db.embeddings.load_catalog("m")
    if change == "replaced":
        await db.embeddings.put(ids[0], "m", np.ones(4))
    elif change == "removed":
        await db.tracks.remove(ids[1])
    elif change == "other model":
        await add_track(vector=np.ones(3), model_id="other")
    else:
        await db.tracks.remove(ids[0])
        await add_track(vector=np.ones(4))
    await add_track(vector=np.zeros(4))  # and one track added, as an import does
    assert await db.embeddings.added_since("m", before.revision, ids[-1]) is None


async def test_a_large_catalog_loads_in_chunks_decoded_off_the_loop(
    db: Database, add_track: AddTrack, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks of more than DECODED_INLINE rows are decoded in a thread, into the same matrix."""
    vectors = rng.standard_normal((9, 4)).astype(np.float32)
    ids = [await add_track(vector=vector) for vector in vectors]
    monkeypatch.setattr(embeddings_module, "LOAD_CHUNK", 4)
    monkeypatch.setattr(embeddings_module, "DECODED_INLINE", 2)
    catalog = await db.embeddings.load_catalog("m")
    assert catalog.track_ids.tolist() == ids
    np.testing.assert_array_equal(catalog.matrix, vectors)
    assert not catalog.matrix.flags.writeable and not catalog.track_ids.flags.writeable
    rows = await db.embeddings.rows_after("m", ids[1], 5)
    np.testing.assert_array_equal(rows.matrix, vectors[2:7])
