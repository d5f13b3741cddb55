"""FeedbackRepository: one vote per user per query, the last one counts, tallied per model."""

import sqlite3

import numpy as np
import pytest

from storage import Database, SentMedia, Tally


async def save_query(db: Database, model_id: str = "m") -> int:
    return await db.queries.save(
        1, SentMedia("audio"), model_id, np.arange(3), np.ones(3), elapsed=0.5
    )


async def test_revote_overwrites(db: Database) -> None:
    query_id = await save_query(db)
    await db.feedback.vote(query_id, 7, 1)
    await db.feedback.vote(query_id, 7, -1)
    await db.feedback.vote(query_id, 8, 1)
    assert await db.feedback.tally_by_model() == {"m": Tally(up=1, down=1)}
    rows = await db.connector.fetchall("SELECT user_id, vote FROM feedback ORDER BY user_id")
    assert [tuple(row) for row in rows] == [(7, -1), (8, 1)]


async def test_tally_by_model(db: Database) -> None:
    assert await db.feedback.tally_by_model() == {}
    a1, a2, b = await save_query(db, "a"), await save_query(db, "a"), await save_query(db, "b")
    await save_query(db, "no votes")
    await db.feedback.vote(a1, 7, 1)
    await db.feedback.vote(a2, 7, 1)
    await db.feedback.vote(a2, 8, -1)
    await db.feedback.vote(b, 7, -1)
    tallies = await db.feedback.tally_by_model()
    assert tallies == {"a": Tally(2, 1), "b": Tally(0, 1)}
    assert list(tallies) == ["a", "b"] and tallies["a"].total == 3


async def test_invalid_votes_are_refused(db: Database) -> None:
    query_id = await save_query(db)
    for vote in (0, 2, -2):
        with pytest.raises(ValueError, match="vote"):
            await db.feedback.vote(query_id, 7, vote)
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        await db.feedback.vote(query_id + 1, 7, 1)
    assert await db.feedback.tally_by_model() == {}


async def test_votes_go_with_their_query(db: Database) -> None:
    query_id = await save_query(db)
    await db.feedback.vote(query_id, 7, 1)
    await db.connector.execute("DELETE FROM queries WHERE id = ?", (query_id,))
    assert await db.feedback.tally_by_model() == {}
