"""A short query (a clip) is answered led by the track it most likely comes from: the catalog
track with the closest section among the best-ranked ones; a whole track is ranked as before."""

import asyncio
from pathlib import Path

import numpy as np

from catalog.recommender import Recommender
from core.constants import CLIP_SECONDS
from core.embedding import TrackEmbedding
from core.models import parse_model_spec
from storage import Database

MODEL = parse_model_spec("msd-vgg/pool5")


def unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


class FakeEmbedder:
    """Stands in for the worker pool: `embed` returns a prepared vector, `seconds` long."""

    def __init__(self, vector: np.ndarray, seconds: float) -> None:
        self.model_id = MODEL.model_id
        self.vector, self.seconds = vector, seconds

    async def embed(self, path: Path, *, query: bool = False) -> TrackEmbedding:
        self.asked_as_query = query
        return TrackEmbedding(
            self.model_id, self.vector, (), np.zeros(0), self.seconds, 8, self.vector[None]
        )


def test_a_clip_is_led_by_its_source_and_a_whole_track_is_not(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    base = np.abs(3 + rng.standard_normal((4, 256)))
    clip = unit(base[0])
    # the source: its mean is far from the clip, one of its sections is the clip's passage
    sections = np.stack([unit(base[1]), unit(base[2]), unit(base[0] + 0.05 * base[1])])
    source = unit(sections.mean(axis=0))
    # another track whose mean lies closer to the clip than the source's does
    decoy = unit(base[0] + base[3])  # (below the near-duplicate threshold: not a copy)
    assert float(decoy @ clip) > float(source @ clip)

    async def answers() -> tuple[list[int], list[float], list[int], int]:
        async with Database(tmp_path / "c.sqlite3") as database:
            source_id = await database.tracks.add("a" * 64, "Source")
            await database.embeddings.put(source_id, MODEL.model_id, source, sections)
            decoy_id = await database.tracks.add("b" * 64, "Decoy")
            await database.embeddings.put(decoy_id, MODEL.model_id, decoy)  # no sections
            for i in range(3):
                other = await database.tracks.add(f"{i:064x}", f"Other {i}")
                far = unit(np.abs(rng.standard_normal(256)))
                await database.embeddings.put(other, MODEL.model_id, far, far[None])
            clip_answer = await Recommender(
                database,
                FakeEmbedder(clip, CLIP_SECONDS),  # type: ignore[arg-type]
                MODEL,
            ).answer(tmp_path / "clip.ogg")
            track_answer = await Recommender(
                database,
                FakeEmbedder(clip, 180.0),  # type: ignore[arg-type]
                MODEL,
            ).answer(tmp_path / "track.mp3")
            return (
                [int(i) for i in clip_answer.track_ids],
                [float(s) for s in clip_answer.scores],
                [int(i) for i in track_answer.track_ids],
                source_id,
            )

    clip_ids, clip_scores, track_ids, source_id = asyncio.run(answers())
    assert clip_ids[0] == source_id and sorted(clip_ids) == sorted(track_ids)
    assert clip_scores[0] > 0.99  # the passage's cosine, not the source's mean's
    assert clip_scores[1:] == sorted(clip_scores[1:], reverse=True)
    assert track_ids[0] != source_id  # a whole track is ranked by the means
    assert clip_ids[1:] == [i for i in track_ids if i != source_id]
