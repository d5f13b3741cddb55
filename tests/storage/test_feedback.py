"""FeedbackRepository: one vote per user per query, the last one counts."""

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
    assert await db.feedback.get(query_id, 7) is None
    await db.feedback.vote(query_id, 7, 1)
    await db.feedback.vote(query_id, 7, -1)
    await db.feedback.vote(query_id, 8, 1)
    assert await db.feedback.get(query_id, 7) == -1
    assert await db.feedback.tally(query_id) == Tally(up=1, down=1)
    row = await db.fetchone("SELECT count(*) FROM feedback")
    assert row is not None and row[0] == 2


async def test_tally_by_model(db: Database) -> None:
    a1, a2, b = await save_query(db, "a"), await save_query(db, "a"), await save_query(db, "b")
    await db.feedback.vote(a1, 7, 1)
    await db.feedback.vote(a2, 7, 1)
    await db.feedback.vote(a2, 8, -1)
    await db.feedback.vote(b, 7, -1)
    assert await db.feedback.tally_by_model() == {"a": Tally(2, 1), "b": Tally(0, 1)}
    assert (await db.feedback.tally(a2)).total == 2
    assert await db.feedback.tally(b + 1) == Tally(0, 0)


async def test_invalid_votes_are_refused(db: Database) -> None:
    query_id = await save_query(db)
    for vote in (0, 2, -2):
        with pytest.raises(ValueError, match="vote"):
            await db.feedback.vote(query_id, 7, vote)
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        await db.feedback.vote(query_id + 1, 7, 1)


async def test_votes_go_with_their_query(db: Database) -> None:
    query_id = await save_query(db)
    await db.feedback.vote(query_id, 7, 1)
    await db.execute("DELETE FROM queries WHERE id = ?", (query_id,))
    assert await db.feedback.get(query_id, 7) is None
