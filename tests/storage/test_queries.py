"""QueryRepository: saved rankings and the /top paging position."""

import numpy as np
import numpy.typing as npt
import pytest

from storage import Database, SentMedia

SENT = SentMedia(kind="audio", file_name="Кино — Звезда.mp3", size_bytes=4_200_000, duration=247.0)


async def save(db: Database, user_id: int = 7, n: int = 100) -> int:
    ids = np.arange(1000, 1000 + n, dtype=np.int64)
    scores = np.linspace(0.99, 0.5, n, dtype=np.float32)
    return await db.queries.save(user_id, SENT, "msd-vgg", ids, scores, elapsed=1.25)


async def test_round_trip(db: Database) -> None:
    query_id = await save(db)
    query = await db.queries.get(query_id)
    assert query is not None
    assert (query.id, query.user_id, query.sent, query.model_id) == (query_id, 7, SENT, "msd-vgg")
    assert query.track_ids.dtype == np.int64 and query.scores.dtype == np.float32
    np.testing.assert_array_equal(query.track_ids, np.arange(1000, 1100))
    np.testing.assert_array_equal(query.scores, np.linspace(0.99, 0.5, 100, dtype=np.float32))
    assert (len(query), query.elapsed, query.position) == (100, 1.25, 0)
    assert query.created_at.tzinfo is not None
    assert await db.queries.get(query_id + 1) is None


async def test_minimal_description_and_empty_ranking(db: Database) -> None:
    query_id = await db.queries.save(1, SentMedia("voice"), "m", [], [], elapsed=0.0)
    query = await db.queries.get(query_id)
    assert query is not None and query.sent == SentMedia("voice") and len(query) == 0


async def test_latest_for_user(db: Database) -> None:
    assert await db.queries.latest_for_user(7) is None
    await save(db, user_id=7)
    newest = await save(db, user_id=7)
    await save(db, user_id=8)
    latest = await db.queries.latest_for_user(7)
    assert latest is not None and latest.id == newest


async def test_paging_position_is_clamped_to_the_ranking(db: Database) -> None:
    query_id = await save(db, n=25)
    assert await db.queries.set_position(query_id, 10) == 10
    assert await db.queries.set_position(query_id, -5) == 0
    assert await db.queries.set_position(query_id, 15) == 15
    assert await db.queries.set_position(query_id, 500) == 25
    query = await db.queries.get(query_id)
    assert query is not None and query.position == 25
    assert await db.queries.set_position(query_id + 1, 0) is None


@pytest.mark.parametrize(
    ("ids", "scores"),
    [([1, 2], [0.5]), ([[1, 2]], [[0.5, 0.4]]), ([1.5], [0.5])],
)
async def test_malformed_rankings_are_refused(
    db: Database, ids: npt.ArrayLike, scores: npt.ArrayLike
) -> None:
    with pytest.raises(ValueError):
        await db.queries.save(1, SENT, "m", ids, scores, elapsed=0.1)


async def test_what_a_query_asked_about_is_kept(db: Database) -> None:
    asked = SentMedia("yandex", "Кино — Группа крови", track_id=5, artist="Кино")
    query_id = await db.queries.save(3, asked, "m", [6, 7], [0.9, 0.8], elapsed=0.01)
    query = await db.queries.get(query_id)
    assert query is not None and query.sent == asked
