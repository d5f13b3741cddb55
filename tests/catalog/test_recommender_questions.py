"""The recommender's questions besides a file: a catalog track (its stored vector), several
tracks at once (an album), and "other artists only" paging — over a real SQLite catalog."""

from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest_asyncio

from catalog.recommender import RESULTS_KEPT, Recommender
from core.models import parse_model_spec
from core.ranking import rank
from storage import Database, SentMedia

SPEC = parse_model_spec("msd-vgg/pool5")  # plain cosine: the exact ranking is a dot product
DIM = 256
TRACKS = 150


class NoEmbedder:
    """These questions never embed: any call is a failure of the test."""

    model_id = SPEC.model_id

    async def embed(self, *_: object, **__: object) -> None:
        raise AssertionError("a stored vector's question embedded something")


@pytest_asyncio.fixture
async def recommender(tmp_path: Path) -> AsyncIterator[Recommender]:
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((TRACKS, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    async with Database(tmp_path / "db.sqlite3") as database:
        for i, vector in enumerate(vectors):
            artist = "Alpha" if i % 3 == 0 else f"Artist {i}"
            track = await database.tracks.add(f"{i:064x}", f"Song {i}", artist=artist)
            await database.embeddings.put(track, SPEC.model_id, vector)
        yield Recommender(database, NoEmbedder(), SPEC)  # type: ignore[arg-type]


async def test_a_catalog_track_is_answered_from_its_vector_and_left_out(
    recommender: Recommender,
) -> None:
    catalog = await recommender.ranker.catalog.get()
    track = await recommender.database.tracks.get(int(catalog.track_ids[6]))
    assert track is not None
    answer = await recommender.answer_track(track, user_id=3)

    exact = rank(catalog.matrix[6], catalog.matrix, catalog.track_ids, RESULTS_KEPT + 1)
    assert exact.ids[0] == track.id  # itself first, by construction…
    assert np.array_equal(answer.track_ids, exact.ids[1:])  # …and left out of its answer
    assert answer.in_catalog == track and answer.embedding is None
    query = await recommender.database.queries.latest_for_user(3)
    assert query is not None and (query.sent.track_id, query.sent.artist) == (track.id, "Alpha")


async def test_several_tracks_are_answered_by_their_mean_without_themselves(
    recommender: Recommender,
) -> None:
    catalog = await recommender.ranker.catalog.get()
    own = [int(i) for i in catalog.track_ids[[1, 2]]]
    answer = await recommender.answer_mean(
        [catalog.matrix[1], catalog.matrix[2]], leave_out=own, sent=SentMedia("album", "A")
    )
    mean = catalog.matrix[1] + catalog.matrix[2]
    mean /= np.linalg.norm(mean)
    exact = rank(mean, catalog.matrix, catalog.track_ids, RESULTS_KEPT + 2)
    expected = [i for i in exact.ids.tolist() if i not in own][:RESULTS_KEPT]
    assert answer.track_ids.tolist() == expected
    np.testing.assert_allclose(answer.scores[:3], exact.scores[2:5], atol=1e-5)  # unit length


async def test_other_artists_paging_numbers_what_it_keeps(recommender: Recommender) -> None:
    catalog = await recommender.ranker.catalog.get()
    track = await recommender.database.tracks.get(int(catalog.track_ids[0]))  # Alpha's
    assert track is not None
    answer = await recommender.answer_track(track)
    first = await recommender.page_from(
        answer.track_ids, answer.scores, 0, 10, other_artists_of=answer.sent
    )
    second = await recommender.page_from(
        answer.track_ids, answer.scores, first.end, 10, other_artists_of=answer.sent
    )
    items = first.items + second.items
    assert [item.position for item in items] == list(range(1, 21))
    assert not [item for item in items if item.track.artist == "Alpha"]
    entries = [item.entry for item in items]
    assert entries == sorted(entries) and first.end == entries[9] + 1
    everything = await recommender.page_from(answer.track_ids, answer.scores, 0, 10)
    assert [item.track.artist for item in everything.items].count("Alpha") > 0
