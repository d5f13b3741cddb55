"""The recommender with a fused model: the catalog is ranked standardised per part (a tiny
catalog with the shipped prior), and a copy is recognised by the stored vectors' cosine, a
suspected one confirmed by the catalog's own embedding of the query."""

import asyncio
from pathlib import Path

import numpy as np

from catalog.recommender import Recommender
from core.embedding import TrackEmbedding
from core.models import parse_model_spec
from storage import Database

FUSION = parse_model_spec("fusion:aisfx+msd-vgg")


def fused_vector(rng: np.random.Generator) -> np.ndarray:
    """A stored-form fused vector: non-negative CNN-like parts at unit length, ÷√2."""
    parts = [np.abs(3 + rng.standard_normal(size)) for size in FUSION.part_sizes]
    parts = [p / np.linalg.norm(p) for p in parts]
    return (np.concatenate(parts) / np.sqrt(2)).astype(np.float32)


class FakeEmbedder:
    """Stands in for the worker pool: `embed` returns a prepared vector, `whole` (default: the
    same) when asked for the catalog's embedding rather than a query's."""

    def __init__(self, vector: np.ndarray, whole: np.ndarray | None = None) -> None:
        self.model_id = FUSION.model_id
        self.vector = vector
        self.whole = vector if whole is None else whole
        self.asked: list[bool] = []

    async def embed(self, path: Path, *, query: bool = False) -> TrackEmbedding:
        self.asked.append(query)
        vector = self.vector if query else self.whole
        return TrackEmbedding(
            self.model_id, vector, (), np.zeros(0, np.float32), 100.0, 3, vector[None]
        )


def towards(start: np.ndarray, target: np.ndarray, cosine: float) -> np.ndarray:
    """A unit vector at exactly `cosine` to the unit `target`, in the plane of `start`."""
    side = start - (start @ target) * target
    side /= np.linalg.norm(side)
    return (cosine * target + np.sqrt(1 - cosine**2) * side).astype(np.float32)


def test_a_tiny_fused_catalog_ranks_the_nearest_first_and_knows_a_copy(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = [fused_vector(rng) for _ in range(3)]

    async def answers() -> list[tuple[list[int], int | None, float]]:
        async with Database(tmp_path / "c.sqlite3") as database:
            ids = []
            for i, vector in enumerate(vectors):
                track_id = await database.tracks.add(f"{i:064x}", f"Song {i}")
                await database.embeddings.put(track_id, FUSION.model_id, vector)
                ids.append(track_id)
            result = []
            near = vectors[1] + rng.normal(0, 0.002, vectors[1].shape).astype(np.float32)
            for query in (near, vectors[2]):
                embedder = FakeEmbedder(query)
                recommender = Recommender(database, embedder, FUSION)  # type: ignore[arg-type]
                answer = await recommender.answer(tmp_path / "query.mp3")
                assert embedder.asked == [True]  # a user's track: the fusion's query windows
                own = answer.in_catalog.id if answer.in_catalog else None
                result.append(([int(i) for i in answer.track_ids], own, float(answer.scores[0])))
            return result

    (near_ids, near_copy, near_score), (copy_ids, copy_of, _) = asyncio.run(answers())
    # a slightly moved copy of track 2 is recognised as it (plain cosine ≥ 0.977), a copy of 3 too
    assert FUSION.near_duplicate_similarity == 0.977
    assert near_copy == 2 and 2 not in near_ids and 0.0 < near_score <= 1.0 + 1e-6
    assert copy_of == 3 and 3 not in copy_ids and len(copy_ids) == 2


def test_a_suspected_copy_is_decided_by_the_catalogs_own_embedding(tmp_path: Path) -> None:
    """A windowed query 0.95 close to a track (above the 0.94 suspicion, below 0.977) is embedded
    again as the catalog embeds it: a copy when that is 0.99 close, not when it is 0.96."""
    rng = np.random.default_rng(1)
    vectors = [fused_vector(rng) for _ in range(3)]
    assert FUSION.duplicate_suspect_similarity == 0.94

    async def fill() -> None:
        async with Database(tmp_path / "c.sqlite3") as database:
            for i, vector in enumerate(vectors):
                track_id = await database.tracks.add(f"{i:064x}", f"Song {i}")
                await database.embeddings.put(track_id, FUSION.model_id, vector)

    async def answer(query: np.ndarray, whole: np.ndarray) -> tuple[int | None, list[bool]]:
        async with Database(tmp_path / "c.sqlite3") as database:
            embedder = FakeEmbedder(query, whole)
            recommender = Recommender(database, embedder, FUSION)  # type: ignore[arg-type]
            found = await recommender.answer(tmp_path / "query.mp3")
            return (found.in_catalog.id if found.in_catalog else None), embedder.asked

    asyncio.run(fill())
    start = fused_vector(rng)
    suspect = towards(start, vectors[1], 0.95)
    assert asyncio.run(answer(suspect, towards(start, vectors[1], 0.99))) == (2, [True, False])
    assert asyncio.run(answer(suspect, towards(start, vectors[1], 0.96))) == (None, [True, False])
    far = towards(start, vectors[1], 0.90)  # not suspected: embedded once
    assert asyncio.run(answer(far, vectors[1])) == (None, [True])
