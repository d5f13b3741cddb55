"""One track at a time per user: the next waits its turn, and other users never wait."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

MAX_WAITING_PER_USER = 3  # tracks a user may have queued behind the one being analysed


class UserQueues:
    """Per-user turns in arrival order; `waiting` tells how many stand in line."""

    def __init__(self) -> None:
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}

    def busy(self, user_id: int) -> bool:
        lock = self._locks.get(user_id)
        return lock is not None and lock.locked()

    def waiting(self, user_id: int) -> int:
        return self._waiting.get(user_id, 0)

    @asynccontextmanager
    async def turn(self, user_id: int) -> AsyncIterator[None]:
        """Hold the user's slot; queued callers get it in arrival order."""
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        self._waiting[user_id] = self.waiting(user_id) + 1
        try:
            await lock.acquire()
        finally:
            self._waiting[user_id] -= 1
        try:
            yield
        finally:
            lock.release()
            if not lock.locked() and not self._waiting[user_id]:
                del self._locks[user_id], self._waiting[user_id]
