"""Ranking through catalog/index.py: exact below the crossover (answers as before), the
index above it, kept in step with the catalog, rebuilt when stale, one file per model id."""

import hashlib
import logging
import shutil
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from catalog.index import CatalogIndex, index_file, index_folder
from catalog.recommender import RESULTS_KEPT, Recommender
from core import index as ann
from core.embedding import TrackEmbedding
from core.models.spec import parse_model_spec
from core.ranking import Ranking, rank
from storage import Catalog, CatalogCache, Database

SPEC = parse_model_spec("msd-vgg/pool5")
MODEL = SPEC.model_id
DIM = 256
needs_faiss = pytest.mark.skipif(
    not ann.available(), reason="faiss-cpu is optional: pip install -r requirements-scale.txt"
)


def unit_rows(n: int, seed: int) -> npt.NDArray[np.float32]:
    rows = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def catalog(ids: npt.NDArray[np.int64], matrix: npt.NDArray[np.float32], revision: int) -> Catalog:
    order = np.argsort(ids)
    return Catalog(MODEL, revision, ids[order].astype(np.int64), matrix[order])


def assert_as_exact(
    ids: npt.NDArray[np.int64], scores: npt.NDArray[np.float32], exact: Ranking
) -> None:
    """The index's answer: the exact ranking's tracks, their cosines to within its
    half-precision copies (1e-3), best first (near-ties may come in either order)."""
    assert sorted(ids) == sorted(exact.ids)
    truth = dict(zip(exact.ids.tolist(), exact.scores.tolist(), strict=True))
    assert np.allclose(scores, [truth[i] for i in ids.tolist()], atol=1e-3)
    assert np.all(np.diff(scores) <= 0)


class Snapshots:
    """A CatalogCache's source serving one in-memory snapshot."""

    def __init__(self, snapshot: Catalog) -> None:
        self.snapshot = snapshot

    async def revision(self) -> int:
        return self.snapshot.revision

    async def load_catalog(self, model_id: str) -> Catalog:
        return self.snapshot


def cache(snapshot: Catalog) -> CatalogCache:
    return CatalogCache(Snapshots(snapshot), snapshot.model_id)


class StubEmbedder:
    """Embeds every file as the vector it was told to (the Recommender's only use of workers)."""

    model_id = MODEL

    def __init__(self) -> None:
        self.vector = np.zeros(DIM, np.float32)

    async def embed(self, path: Path, *, query: bool = False) -> TrackEmbedding:
        self.asked_as_query = query
        return TrackEmbedding(
            MODEL, self.vector, ("rock",), np.ones(1, np.float32), 180.0, 8, self.vector[None]
        )


async def filled_database(path: Path, vectors: npt.NDArray[np.float32]) -> Database:
    database = await Database(path).open()
    for i, vector in enumerate(vectors):
        track = await database.tracks.add(hashlib.sha256(b"%d" % i).hexdigest(), f"t{i}")
        await database.embeddings.put(track, MODEL, vector)
    return database


async def test_small_catalog_answers_exactly_as_before_with_or_without_faiss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = await filled_database(tmp_path / "db.sqlite3", unit_rows(300, 1))
    try:
        embedder = StubEmbedder()
        recommender = Recommender(database, embedder, SPEC)  # type: ignore[arg-type]
        snapshot = await recommender.ranker.catalog.get()
        answers = []
        for available in (True, False):
            monkeypatch.setattr(ann, "available", lambda available=available: available)
            for query in unit_rows(5, 2):
                embedder.vector = query
                answer = await recommender.answer(tmp_path / "x.mp3")
                before = rank(query, snapshot.matrix, snapshot.track_ids, RESULTS_KEPT + 1)
                assert np.array_equal(answer.track_ids, before.ids[:RESULTS_KEPT])
                assert np.array_equal(answer.scores, before.scores[:RESULTS_KEPT])
                answers.append(answer.track_ids)
        assert all(np.array_equal(a, b) for a, b in zip(answers[:5], answers[5:], strict=True))
        assert recommender.ranker.index.builds == 0
        assert not (tmp_path / "db.sqlite3.index").exists()
    finally:
        await database.close()


@needs_faiss
async def test_above_the_crossover_the_recommender_ranks_through_the_index(
    tmp_path: Path,
) -> None:
    db_path = tmp_path / "db.sqlite3"
    database = await filled_database(db_path, unit_rows(60, 3))
    try:
        embedder = StubEmbedder()
        folder = index_folder(db_path)
        assert folder is not None
        index = CatalogIndex(folder, MODEL, crossover=0)
        recommender = Recommender(database, embedder, SPEC, index)  # type: ignore[arg-type]
        snapshot = await recommender.ranker.catalog.get()
        embedder.vector = unit_rows(1, 4)[0]
        answer = await recommender.answer(tmp_path / "x.mp3")
        exact = rank(embedder.vector, snapshot.matrix, snapshot.track_ids, RESULTS_KEPT)
        assert_as_exact(answer.track_ids, answer.scores, exact)  # 60 tracks: all candidates
        assert index.builds == 1
        assert index_file(folder, MODEL).is_file()
        assert folder == tmp_path / "db.sqlite3.index"
    finally:
        await database.close()


@needs_faiss
async def test_new_tracks_are_added_and_the_file_reused(tmp_path: Path) -> None:
    vectors, ids = unit_rows(600, 5), np.arange(1, 601, dtype=np.int64)
    index = CatalogIndex(tmp_path, MODEL, crossover=0)
    await index.sync(catalog(ids[:500], vectors[:500], revision=1))
    grown = catalog(ids, vectors, revision=2)
    synced = await index.sync(grown)
    assert (index.builds, index.additions, len(synced), synced.revision) == (1, 1, 600, 2)
    found = await index.rank(vectors[550], cache(grown), 10)
    assert found.ids[0] == 551  # a track added later is its own best match

    again = CatalogIndex(tmp_path, MODEL, crossover=0)  # a restart: the saved file is current
    await again.sync(grown)
    assert (again.builds, again.additions) == (0, 0)


@needs_faiss
@pytest.mark.parametrize("change", ["removed", "replaced", "corrupt", "doubled"])
async def test_a_stale_index_is_rebuilt(
    tmp_path: Path, change: str, caplog: pytest.LogCaptureFixture
) -> None:
    vectors, ids = unit_rows(400, 6), np.arange(1, 401, dtype=np.int64)
    index = CatalogIndex(tmp_path, MODEL, crossover=0)
    await index.sync(catalog(ids[:300], vectors[:300], revision=1))
    if change == "removed":
        later = catalog(ids[1:300], vectors[1:300], revision=2)
    elif change == "replaced":
        changed = vectors[:300].copy()
        changed[7] = unit_rows(1, 7)[0]
        later = catalog(ids[:300], changed, revision=2)
    elif change == "corrupt":
        assert index.path is not None
        index.path.write_bytes(b"garbage")
        index = CatalogIndex(tmp_path, MODEL, crossover=0)
        later = catalog(ids[:300], vectors[:300], revision=1)
    else:
        more = unit_rows(400, 8)
        later = catalog(np.arange(1, 701, dtype=np.int64), np.concatenate([vectors[:300], more]), 2)
    with caplog.at_level(logging.INFO, logger="catalog.index"):
        synced = await index.sync(later)
    rebuilt = (1, 0) if change == "corrupt" else (2, 0)  # the corrupt file: a fresh holder
    assert (index.builds, index.additions) == rebuilt
    assert "index stale" in caplog.text or "index rebuilt" in caplog.text
    assert sorted(synced.ids) == list(later.track_ids)
    query = later.matrix[5]
    assert (await index.rank(query, cache(later), 1)).ids[0] == later.track_ids[5]


@needs_faiss
async def test_each_model_has_its_own_file_and_never_reads_another(tmp_path: Path) -> None:
    vectors, ids = unit_rows(100, 9), np.arange(100, dtype=np.int64)
    first = CatalogIndex(tmp_path, MODEL, crossover=0)
    await first.sync(catalog(ids, vectors, revision=1))
    other_model = "other/model@v2"
    other = CatalogIndex(tmp_path, other_model, crossover=0)
    assert other.path is not None and first.path is not None and other.path != first.path
    other.path.write_bytes(first.path.read_bytes())  # a file of another model in its place
    with pytest.raises(ann.IndexMismatchError):
        ann.VectorIndex.load(other.path, other_model, DIM)
    synced = await other.sync(Catalog(other_model, 1, ids, vectors))
    assert (other.builds, synced.model_id) == (1, other_model)
    with pytest.raises(ann.IndexMismatchError):
        await first.sync(Catalog(other_model, 1, ids, vectors))


@needs_faiss
async def test_a_failing_index_falls_back_to_the_exact_ranking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    vectors, ids = unit_rows(200, 11), np.arange(200, dtype=np.int64)
    snapshot = catalog(ids, vectors, revision=1)

    def broken(*args: object) -> None:
        raise MemoryError("no room for the index")

    monkeypatch.setattr(ann.VectorIndex, "build", broken)
    index = CatalogIndex(tmp_path, MODEL, crossover=0)
    await index.prepare(cache(snapshot))  # logged, not raised: the bot still starts
    query = unit_rows(1, 12)[0]
    found = await index.rank(query, cache(snapshot), 20)
    exact = rank(query, snapshot.matrix, snapshot.track_ids, 20)
    assert np.array_equal(found.ids, exact.ids) and np.array_equal(found.scores, exact.scores)
    assert "ranked exactly" in caplog.text


def test_index_file_names_are_safe_and_distinct(tmp_path: Path) -> None:
    a, b = index_file(tmp_path, "msd-vgg/pool5@fe2"), index_file(tmp_path, "msd-vgg:pool5@fe2")
    assert a.parent == b.parent == tmp_path and a != b
    assert "/" not in a.name and a.name.startswith("msd-vgg_pool5")
    assert index_folder(Path(":memory:")) is None


@needs_faiss
async def test_above_the_crossover_the_index_alone_answers_and_no_matrix_is_held(
    tmp_path: Path,
) -> None:
    database = await filled_database(tmp_path / "db.sqlite3", unit_rows(80, 13))
    try:
        embedder = StubEmbedder()
        index = CatalogIndex(index_folder(database.path), MODEL, crossover=50)
        recommender = Recommender(database, embedder, SPEC, index)  # type: ignore[arg-type]
        full = await database.embeddings.load_catalog(MODEL)
        for query in unit_rows(3, 14):
            embedder.vector = query
            answer = await recommender.answer(tmp_path / "x.mp3")
            exact = rank(query, full.matrix, full.track_ids, RESULTS_KEPT)
            assert_as_exact(answer.track_ids, answer.scores, exact)  # 80 tracks: all candidates
            assert not recommender.ranker.catalog.held  # the index serves: no matrix kept
            assert (recommender.ranker.catalog.loads, index.builds) == (1, 1)  # read once, to build

        removed = int(full.track_ids[0])
        await database.tracks.remove(removed)  # a new revision: synced again, then released
        embedder.vector = full.matrix[0]
        answer = await recommender.answer(tmp_path / "x.mp3")
        assert removed not in answer.track_ids and len(answer) == 79
        assert (recommender.ranker.catalog.loads, index.builds) == (2, 2)
        assert not recommender.ranker.catalog.held
    finally:
        await database.close()


def folder_state(folder: Path) -> dict[str, tuple[int, int]]:
    """Its files (but SQLite's own -wal and -shm, which a read-only WAL reader may create)."""
    return {
        p.name: (p.stat().st_mtime_ns, p.stat().st_size)
        for p in folder.iterdir()
        if not p.name.endswith(("-wal", "-shm"))
    }


@needs_faiss
@pytest.mark.parametrize("saved", ["current", "stale", "none"])
async def test_a_read_only_database_never_builds_nor_writes_an_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, saved: str
) -> None:
    """`python -m bot recommend` over a read-only database: the saved index when it is current,
    else the exact ranking; never a build (seconds at a million vectors) nor a file written."""
    monkeypatch.setattr(ann, "CROSSOVER", 50)
    path = tmp_path / "db.sqlite3"
    database = await filled_database(path, unit_rows(90, 16))
    try:
        if saved != "none":
            writer = Recommender(database, StubEmbedder(), SPEC)  # type: ignore[arg-type]
            assert not writer.ranker.index.read_only
            await writer.ranker.index.prepare(writer.ranker.catalog)
            assert writer.ranker.index.builds == 1
        if saved == "stale":  # imported after the index was saved
            track = await database.tracks.add(hashlib.sha256(b"late").hexdigest(), "late")
            await database.embeddings.put(track, MODEL, unit_rows(1, 17)[0])
    finally:
        await database.close()
    before = folder_state(tmp_path)
    index_before = folder_state(tmp_path / "db.sqlite3.index") if saved != "none" else {}

    reader = await Database(path, read_only=True).open()
    try:
        embedder = StubEmbedder()
        recommender = Recommender(reader, embedder, SPEC)  # type: ignore[arg-type]
        assert recommender.ranker.index.read_only
        full = await reader.embeddings.load_catalog(MODEL)
        for query in unit_rows(3, 18):
            embedder.vector = query
            answer = await recommender.answer(tmp_path / "x.mp3")
            exact = rank(query, full.matrix, full.track_ids, RESULTS_KEPT)
            if saved == "current":  # the saved index answers
                assert_as_exact(answer.track_ids, answer.scores, exact)
            else:  # the exact ranking, as without an index
                assert np.array_equal(answer.track_ids, exact.ids)
                assert np.array_equal(answer.scores, exact.scores)
        assert (recommender.ranker.index.builds, recommender.ranker.index.additions) == (0, 0)
        used = recommender.ranker.index._index is not None
        assert used == (saved == "current")  # loaded when current, else ranked exactly
        assert recommender.ranker.catalog.held == (saved != "current")
    finally:
        await reader.close()
    assert folder_state(tmp_path) == before  # nothing created beside the database
    if saved != "none":
        assert folder_state(tmp_path / "db.sqlite3.index") == index_before


@needs_faiss
@pytest.mark.parametrize("read_only", [False, True], ids=["writable", "read-only"])
async def test_an_index_of_another_catalog_with_the_same_counts_is_not_trusted(
    tmp_path: Path, read_only: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Two catalogs of 120 tracks each, ids 1–120 and the same revision: the index saved beside
    one, copied beside the other, must not rank the other's queries with the first's vectors."""
    first, second = tmp_path / "a" / "db.sqlite3", tmp_path / "b" / "db.sqlite3"
    first.parent.mkdir()
    second.parent.mkdir()
    for path, seed in ((first, 21), (second, 22)):
        database = await filled_database(path, unit_rows(120, seed))
        try:
            if path == first:
                saved = CatalogIndex(index_folder(path), MODEL, crossover=0)
                await saved.prepare(CatalogCache(database.embeddings, MODEL))
                assert saved.builds == 1 and saved.path is not None and saved.path.is_file()
            revision = await database.embeddings.revision()
        finally:
            await database.close()
    folder = index_folder(second)
    assert folder is not None
    shutil.copytree(index_folder(first), folder)  # type: ignore[arg-type]
    first_catalog = await _catalog_of(first)

    database = await Database(second, read_only=read_only).open()
    try:
        catalogs = CatalogCache(database.embeddings, MODEL)
        full = await database.embeddings.load_catalog(MODEL)
        assert full.revision == revision == first_catalog.revision  # the same counts
        assert np.array_equal(full.track_ids, first_catalog.track_ids)  # the same ids
        index = CatalogIndex(folder, MODEL, crossover=0, read_only=read_only)
        with caplog.at_level(logging.INFO, logger="catalog.index"):
            for row in (7, 70):
                query = full.matrix[row]
                found = await index.rank(query, catalogs, 10)
                exact = rank(query, full.matrix, full.track_ids, 10)
                assert found.ids[0] == full.track_ids[row]  # its own vector first
                assert_as_exact(found.ids, found.scores, exact)  # this catalog's ranking
        assert "another catalog's: its vectors differ" in caplog.text
        if read_only:  # nothing built or written: ranked exactly
            assert index.builds == 0 and index._index is None
        else:  # rebuilt from this catalog, and saved over the other's
            assert index.builds == 1
            saved_now = ann.VectorIndex.load(index_file(folder, MODEL), MODEL, DIM)
            order = np.argsort(saved_now.ids)
            assert np.allclose(saved_now.prints[order], ann.fingerprints(full.matrix), atol=1e-6)
    finally:
        await database.close()


async def _catalog_of(path: Path) -> Catalog:
    async with Database(path, read_only=True) as database:
        return await database.embeddings.load_catalog(MODEL)


@needs_faiss
async def test_an_index_of_other_track_ids_with_the_same_counts_is_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The same 300 vectors under ids 1–300 and 2–301, both at revision 1: on a restart, the
    saved index's ids must not stand in for the catalog's."""
    vectors = unit_rows(300, 23)
    await CatalogIndex(tmp_path, MODEL, crossover=0).sync(
        catalog(np.arange(1, 301, dtype=np.int64), vectors, revision=1)
    )
    shifted = catalog(np.arange(2, 302, dtype=np.int64), vectors, revision=1)
    restarted = CatalogIndex(tmp_path, MODEL, crossover=0)
    with caplog.at_level(logging.INFO, logger="catalog.index"):
        found = await restarted.rank(vectors[0], cache(shifted), 1)
    assert found.ids.tolist() == [2]  # before: 1, a track this catalog does not have
    assert restarted.builds == 1
    assert "another catalog's: its tracks differ" in caplog.text
