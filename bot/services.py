"""The long-lived things the handlers share, opened in post_init and closed in post_shutdown."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from telegram.ext import ContextTypes

from bot.config import BotSettings
from core.service import EmbeddingService
from storage import CatalogCache, Database

MAX_WAITING_PER_USER = 3  # tracks a user may have queued behind the one being analysed


class UserQueues:
    """One track at a time per user: the next waits its turn (others' tracks never wait)."""

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


@dataclass
class Services:
    settings: BotSettings
    database: Database
    embedder: EmbeddingService
    catalog: CatalogCache
    downloads: Path  # private (0700) folder for files being analysed
    queues: UserQueues = field(default_factory=UserQueues)


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    """The application's Services, as post_init stored them."""
    found: Services = context.application.bot_data["services"]
    return found
