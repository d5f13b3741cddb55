"""Thumbs up/down on a query's results: one vote per user per query, the last one counts."""

from dataclasses import dataclass

from storage.errors import disk_full_as_error
from storage.session import Connector


@dataclass(frozen=True, slots=True)
class Tally:
    up: int
    down: int

    @property
    def total(self) -> int:
        return self.up + self.down


class FeedbackRepository:
    """The `feedback` table."""

    def __init__(self, connector: Connector) -> None:
        self._sql = connector

    async def vote(self, query_id: int, user_id: int, vote: int) -> None:
        """Record +1 or -1 for the query; a second vote by the same user replaces the first.
        DiskFullError when the disk is full."""
        if vote not in (1, -1):
            raise ValueError(f"a vote is +1 or -1, got {vote!r}")
        with disk_full_as_error("the vote"):
            await self._sql.execute(
                """INSERT INTO feedback (query_id, user_id, vote) VALUES (?, ?, ?)
                   ON CONFLICT (query_id, user_id)
                   DO UPDATE SET vote = excluded.vote, at = excluded.at""",
                (query_id, user_id, vote),
            )

    async def tally_by_model(self) -> dict[str, Tally]:
        """Votes per model id over all queries: how each model's rankings are received."""
        rows = await self._sql.fetchall(
            """SELECT q.model_id,
                      count(*) FILTER (WHERE f.vote = 1) AS up,
                      count(*) FILTER (WHERE f.vote = -1) AS down
               FROM feedback AS f JOIN queries AS q ON q.id = f.query_id
               GROUP BY q.model_id ORDER BY q.model_id"""
        )
        return {row["model_id"]: Tally(int(row["up"]), int(row["down"])) for row in rows}
