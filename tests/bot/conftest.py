"""The fake Bot API server, one per test module of the chat (each module's bot talks to its own)."""

from collections.abc import AsyncIterator

import pytest_asyncio
from fake_telegram import FakeTelegram


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fake() -> AsyncIterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server
