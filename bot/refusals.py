"""Remembering which strangers the access gate has told that the bot is private."""

import time
from collections import OrderedDict
from collections.abc import Callable

REFUSAL_INTERVAL = 24 * 3600.0  # seconds: a stranger is told at most once a day
REFUSALS_REMEMBERED = 100_000  # strangers kept in memory; the oldest are forgotten first
REFUSALS_PER_SECOND = 5.0  # refusals sent at most, out of Telegram's ~30 messages a second
REFUSAL_BURST = 10


class Refusals:
    """Which strangers were told lately, and a token bucket for telling new ones.

    In memory, not in SQLite: the gate consults it on every update of every stranger, so it
    must cost no I/O, and what it guards is a courtesy — after a restart (or once a stranger
    falls out of the REFUSALS_REMEMBERED most recent) they are told once more, which is
    harmless. The size bound keeps a flood of distinct ids from growing the process.

    The bucket keeps strangers from delaying whitelisted users: every message the bot sends
    shares Telegram's rate limit (AIORateLimiter queues them), so 300 strangers refused at
    once held a member's answer back by 10 s. Beyond REFUSALS_PER_SECOND a stranger is not
    told now and not remembered: they are told when they write again after the flood.
    """

    def __init__(
        self,
        interval: float = REFUSAL_INTERVAL,
        remembered: int = REFUSALS_REMEMBERED,
        per_second: float = REFUSALS_PER_SECOND,
        burst: int = REFUSAL_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval, self.remembered = interval, remembered
        self.per_second, self.burst = per_second, burst
        self._clock = clock
        self._told: OrderedDict[int, float] = OrderedDict()  # user id -> when, oldest first
        self._tokens, self._filled_at = float(burst), clock()

    def due(self, user_id: int) -> bool:
        """Whether to tell `user_id` now; a True is remembered for `interval`."""
        now = self._clock()
        told = self._told.get(user_id)
        if told is not None and now - told < self.interval:
            return False
        self._tokens = min(self.burst, self._tokens + (now - self._filled_at) * self.per_second)
        self._filled_at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        self._told[user_id] = now
        self._told.move_to_end(user_id)
        while len(self._told) > self.remembered:
            self._told.popitem(last=False)
        return True
