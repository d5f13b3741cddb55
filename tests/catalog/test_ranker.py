"""The default model's ranking at any size (catalog/ranker.py, catalog/space_index.py): exact and
unchanged below the crossover; above it a generation of the standardised index answers without
the catalog matrix, takes tracks committed later without a rebuild, and is replaced in the
background when the catalog drifted or lost tracks; copies and clips are still recognised."""

import hashlib
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from catalog import ranker as ranker_module
from catalog.index import CatalogIndex, index_folder
from catalog.ranker import STALE_AT_MOST, CatalogRanker
from catalog.recommender import RESULTS_KEPT, Recommender
from catalog.space_index import DRIFT
from core import index as ann
from core.constants import CLIP_SECONDS
from core.embedding import TrackEmbedding
from core.models.spec import parse_model_spec
from core.ranking import rank
from core.standardise import PRIOR_WEIGHT_TRACKS, RankingSpace, Statistics, load_prior, standardise
from storage import Database

SPEC = parse_model_spec("fusion:aisfx+msd-vgg")
MODEL = SPEC.model_id
DIM = SPEC.vector_size
CROSSOVER = 400
needs_faiss = pytest.mark.skipif(
    not ann.available(), reason="faiss-cpu is optional: pip install -r requirements-scale.txt"
)


def fused(count: int, seed: int) -> npt.NDArray[np.float32]:
    """Stored vectors of the fusion: the prior's mean plus its spread times a random direction,
    each part at unit length, the whole at unit length."""
    prior = load_prior(MODEL)
    assert prior is not None
    rng = np.random.default_rng(seed)
    raw = prior.mean + prior.std * rng.standard_normal((count, DIM))
    parts, start = [], 0
    for size in SPEC.part_sizes:
        part = raw[:, start : start + size]
        parts.append(part / np.linalg.norm(part, axis=1, keepdims=True))
        start += size
    return (np.concatenate(parts, axis=1) / np.sqrt(len(parts))).astype(np.float32)


async def add_tracks(database: Database, vectors: npt.NDArray[np.float32], tag: str) -> list[int]:
    ids = []
    for i, vector in enumerate(vectors):
        digest = hashlib.sha256(f"{tag}{i}".encode()).hexdigest()
        track = await database.tracks.add(digest, f"{tag}{i}")
        await database.embeddings.put(track, MODEL, vector)
        ids.append(track)
    return ids


def indexed_ranker(database: Database) -> CatalogRanker:
    folder = index_folder(database.path)
    return CatalogRanker(database, SPEC, CatalogIndex(folder, MODEL, crossover=CROSSOVER))


class StubEmbedder:
    """Embeds every file as the vector (and clip length) it was told to."""

    model_id = MODEL

    def __init__(self) -> None:
        self.vector = np.zeros(DIM, np.float32)
        self.seconds = 180.0

    async def embed(self, path: Path, *, query: bool = False) -> TrackEmbedding:
        return TrackEmbedding(
            MODEL, self.vector, (), np.ones(1, np.float32), self.seconds, 8, self.vector[None]
        )


async def test_a_small_catalog_ranks_exactly_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below the crossover the order and scores are today's: the whole catalog's statistics
    (computed in one float64 pass, as before) blended with the prior."""
    async with Database(tmp_path / "db.sqlite3") as database:
        await add_tracks(database, fused(300, 1), "t")
        catalog = await database.embeddings.load_catalog(MODEL)
        prior = load_prior(MODEL)
        assert prior is not None
        own, weight = Statistics.of(catalog.matrix), 300 / (300 + PRIOR_WEIGHT_TRACKS)
        mean = weight * own.mean + (1 - weight) * prior.mean
        variance = weight * (own.std**2 + (own.mean - mean) ** 2) + (1 - weight) * (
            prior.std**2 + (prior.mean - mean) ** 2
        )
        before = Statistics(mean, np.sqrt(variance))
        matrix = standardise(catalog.matrix, before, SPEC.part_sizes, SPEC.standardised_parts)
        for available in (True, False):
            monkeypatch.setattr(ann, "available", lambda available=available: available)
            ranker = CatalogRanker(database, SPEC)
            assert await ranker.prepare() == 300
            for query in fused(5, 2):
                ranking = await ranker.rank(query, RESULTS_KEPT + 1)
                z = standardise(query[None], before, SPEC.part_sizes, SPEC.standardised_parts)[0]
                expected = rank(z, matrix, catalog.track_ids, RESULTS_KEPT + 1)
                assert np.array_equal(ranking.ids, expected.ids)
                np.testing.assert_allclose(ranking.scores, expected.scores, atol=1e-6)
                nearest = rank(query, catalog.matrix, catalog.track_ids, 1)
                found = await ranker.nearest(query, ranking)
                assert np.array_equal(found.ids, nearest.ids)
            assert ranker.spaces.generation is None and ranker.spaces.builds == 0


@needs_faiss
async def test_above_the_crossover_the_index_answers_without_the_matrix(tmp_path: Path) -> None:
    async with Database(tmp_path / "db.sqlite3") as database:
        vectors = fused(CROSSOVER + 100, 3)
        ids = await add_tracks(database, vectors, "t")
        ranker = indexed_ranker(database)
        assert await ranker.prepare() == len(ids)
        generation = ranker.spaces.generation
        assert generation is not None and generation.count == len(ids)
        assert not ranker.catalog.held and ranker.catalog.loads == 0
        space = generation.space
        matrix = space.rows(vectors)
        for query in fused(5, 4):
            ranking = await ranker.rank(query, 10)  # the exact top 10 but for fp16 near-ties
            exact = rank(space.query(query), matrix, np.array(ids, np.int64), len(ids))
            truth = dict(zip(exact.ids.tolist(), exact.scores.tolist(), strict=True))
            found = [truth[i] for i in ranking.ids.tolist()]
            np.testing.assert_allclose(ranking.scores, found, atol=2e-3)
            assert min(found) >= exact.scores[9] - 2e-3
        ranking = await ranker.rank(vectors[7], 10)
        own = await ranker.nearest(vectors[7], ranking)  # a stored vector: its track, cosine 1
        assert own.ids.tolist() == [ids[7]]
        assert own.scores[0] == pytest.approx(1.0, abs=1e-5)
        nearest = await ranker.nearest(vectors[9])
        assert nearest.ids.tolist() == [ids[9]]
        assert not ranker.catalog.held and ranker.catalog.loads == 0


@needs_faiss
async def test_tracks_committed_by_another_process_are_added_without_a_rebuild(
    tmp_path: Path,
) -> None:
    async with Database(tmp_path / "db.sqlite3") as database:
        await add_tracks(database, fused(CROSSOVER + 100, 5), "t")
        ranker = indexed_ranker(database)
        await ranker.prepare()
        first = ranker.spaces.generation
        assert first is not None
        async with Database(tmp_path / "db.sqlite3") as importer:  # its own connection
            new_vectors = fused(20, 6)
            new = await add_tracks(importer, new_vectors, "new")
        await ranker.rank(new_vectors[0], 10)  # sees the revision move: updates behind
        await ranker.spaces.settled()
        assert ranker.spaces.generation is first  # the same generation, the same statistics
        assert first.count == CROSSOVER + 120 and ranker.spaces.builds == 1
        assert ranker.spaces.additions == 20
        ranking = await ranker.rank(new_vectors[3], 10)
        nearest = await ranker.nearest(new_vectors[3], ranking)
        assert ranking.ids[0] == new[3] and nearest.ids[0] == new[3]
        assert not ranker.catalog.held


@needs_faiss
async def test_a_drifted_catalog_gets_a_new_generation_while_the_old_one_answers(
    tmp_path: Path,
) -> None:
    async with Database(tmp_path / "db.sqlite3") as database:
        await add_tracks(database, fused(CROSSOVER + 100, 7), "t")
        ranker = indexed_ranker(database)
        await ranker.prepare()
        first = ranker.spaces.generation
        assert first is not None
        grown = int((CROSSOVER + 100) * DRIFT) + 1
        new_vectors = fused(grown, 8)
        new = await add_tracks(database, new_vectors, "new")
        ranking = await ranker.rank(new_vectors[0], 10)  # answered by the old generation
        assert len(ranking) == 10
        await ranker.spaces.settled()
        second = ranker.spaces.generation
        assert second is not None and second is not first and ranker.spaces.builds == 2
        assert second.frozen_at == second.count == CROSSOVER + 100 + grown
        assert not np.array_equal(second.space.statistics.mean, first.space.statistics.mean)
        assert (await ranker.rank(new_vectors[1], 10)).ids[0] == new[1]


@needs_faiss
async def test_removed_tracks_get_a_new_generation_without_them(tmp_path: Path) -> None:
    async with Database(tmp_path / "db.sqlite3") as database:
        vectors = fused(CROSSOVER + 100, 9)
        ids = await add_tracks(database, vectors, "t")
        ranker = indexed_ranker(database)
        await ranker.prepare()
        assert (await ranker.rank(vectors[4], 10)).ids[0] == ids[4]
        assert await database.tracks.remove(ids[4])
        await ranker.rank(vectors[4], 10)
        await ranker.spaces.settled()
        assert ranker.spaces.builds == 2
        ranking = await ranker.rank(vectors[4], RESULTS_KEPT)
        assert ids[4] not in ranking.ids.tolist()


@needs_faiss
async def test_copies_and_clips_are_recognised_above_the_crossover(tmp_path: Path) -> None:
    async with Database(tmp_path / "db.sqlite3") as database:
        vectors = fused(CROSSOVER + 100, 10)
        ids = await add_tracks(database, vectors, "t")
        embedder = StubEmbedder()
        folder = index_folder(database.path)
        index = CatalogIndex(folder, MODEL, crossover=CROSSOVER)
        recommender = Recommender(database, embedder, SPEC, index)  # type: ignore[arg-type]
        await recommender.ranker.prepare()
        assert recommender.ranker.spaces.generation is not None
        embedder.vector = vectors[11]  # the very track: already in the catalog
        answer = await recommender.answer(tmp_path / "x.mp3")
        assert answer.in_catalog is not None and answer.in_catalog.id == ids[11]
        assert ids[11] not in answer.track_ids.tolist()
        noise = np.random.default_rng(11).normal(0, 0.02, DIM).astype(np.float32)
        clip = vectors[12] + noise
        embedder.vector, embedder.seconds = clip / np.linalg.norm(clip), CLIP_SECONDS
        answer = await recommender.answer(tmp_path / "clip.mp3")
        assert answer.in_catalog is None and answer.track_ids[0] == ids[12]
        assert not recommender.ranker.catalog.held


async def exact_ranking(
    database: Database, query: npt.NDArray[np.float32], k: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Today's exact answer: the whole catalog as it is now, standardised with its own
    statistics blended with the prior."""
    catalog = await database.embeddings.load_catalog(MODEL)
    space = RankingSpace.of(
        catalog.matrix, SPEC.part_sizes, load_prior(MODEL), SPEC.standardised_parts
    )
    ranking = rank(space.query(query), space.matrix, catalog.track_ids, k)
    return ranking.ids, ranking.scores


async def test_tracks_being_added_rank_at_once_and_exactly_once_the_catalog_is_quiet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Below the crossover, while another process adds tracks: a query does not wait for the
    grown catalog's space (the new rows are appended, standardised with the last statistics,
    and read alone from storage); once it is quiet the recomputed space answers, exactly."""
    monkeypatch.setattr(ranker_module, "PROVISIONAL_FROM", 200)
    monkeypatch.setattr(ranker_module, "QUIET_S", 0.01)
    async with Database(tmp_path / "db.sqlite3") as database:
        await add_tracks(database, fused(300, 20), "t")
        ranker = CatalogRanker(database, SPEC)
        assert await ranker.prepare() == 300 and ranker.recomputes == 1
        queries = fused(3, 21)
        async with Database(tmp_path / "db.sqlite3") as importer:
            new_vectors = fused(3, 22)
            new = await add_tracks(importer, new_vectors, "new")
        ranking = await ranker.rank(new_vectors[1], 10)
        nearest = await ranker.nearest(new_vectors[1], ranking)
        assert ranking.ids[0] == new[1] and nearest.ids.tolist() == [new[1]]
        assert ranker.catalog.appends == 1 and ranker.catalog.loads == 2
        assert ranker.recomputes == 1  # not waited for: recomputed in the background
        await ranker.settled()
        assert ranker.recomputes == 2
        for query in (*queries, new_vectors[0]):
            ranking = await ranker.rank(query, RESULTS_KEPT + 1)
            ids, scores = await exact_ranking(database, query, RESULTS_KEPT + 1)
            assert np.array_equal(ranking.ids, ids)
            np.testing.assert_array_equal(ranking.scores, scores)
        assert ranker.recomputes == 2 and ranker.catalog.loads == 2


@pytest.mark.parametrize("change", ["grown", "removed", "small"])
async def test_a_query_waits_for_the_space_when_the_catalog_changed_much_or_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """A catalog grown by more than STALE_AT_MOST since its statistics, one that lost a track,
    or one smaller than PROVISIONAL_FROM is answered in its own space at once, as before."""
    monkeypatch.setattr(ranker_module, "PROVISIONAL_FROM", 100 if change != "small" else 400)
    async with Database(tmp_path / "db.sqlite3") as database:
        ids = await add_tracks(database, fused(300, 23), "t")
        ranker = CatalogRanker(database, SPEC)
        await ranker.prepare()
        if change == "removed":
            assert await database.tracks.remove(ids[5])
            await add_tracks(database, fused(1, 24), "new")
        else:
            added = int(300 * STALE_AT_MOST) + 1 if change == "grown" else 1
            await add_tracks(database, fused(added, 24), "new")
        query = fused(1, 25)[0]
        ranking = await ranker.rank(query, RESULTS_KEPT + 1)
        ids_now, scores = await exact_ranking(database, query, RESULTS_KEPT + 1)
        assert np.array_equal(ranking.ids, ids_now)
        np.testing.assert_array_equal(ranking.scores, scores)
        assert ranker.recomputes == 2
        assert ranker.catalog.appends == (0 if change == "removed" else 1)
