"""The recommender with a fused model: the catalog is ranked standardised per part (a tiny
catalog with the shipped prior), and a copy is recognised by the stored vectors' cosine."""

import asyncio
from pathlib import Path

import numpy as np

from bot.recommender import Recommender
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
    """Stands in for the worker pool: `embed` returns a prepared vector."""

    def __init__(self, vector: np.ndarray) -> None:
        self.model_id = FUSION.model_id
        self.vector = vector

    async def embed(self, path: Path) -> TrackEmbedding:
        return TrackEmbedding(
            self.model_id, self.vector, (), np.zeros(0, np.float32), 10.0, 3, self.vector[None]
        )


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
                own = answer.in_catalog.id if answer.in_catalog else None
                result.append(([int(i) for i in answer.track_ids], own, float(answer.scores[0])))
            return result

    (near_ids, near_copy, near_score), (copy_ids, copy_of, _) = asyncio.run(answers())
    # a slightly moved copy of track 2 is recognised as it (plain cosine ≥ 0.977), a copy of 3 too
    assert FUSION.near_duplicate_similarity == 0.977
    assert near_copy == 2 and 2 not in near_ids and 0.0 < near_score <= 1.0 + 1e-6
    assert copy_of == 3 and 3 not in copy_ids and len(copy_ids) == 2
