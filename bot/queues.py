"""One track at a time per user: the next waits its turn, and other users never wait.

Admission is atomic: `admit` checks and takes a place in line in one synchronous step, with no
await in between, so a burst of updates handled concurrently cannot all see a free slot (the
check-then-wait race that let 6 or 7 of a burst of 10 through). Turns follow admission order.
Paging (More, /top) has its own line: one page at a time, one request waiting, repeats refused.
"""

import asyncio
from collections import deque
from types import TracebackType

MAX_WAITING_PER_USER = 3  # tracks a user may have queued behind the one being analysed


class Place:
    """A user's place in their line, from `UserQueues.admit`: `async with` it, then
    `await turn()`; leaving the block gives the place up, whether or not the turn came."""

    def __init__(self, queues: "UserQueues", user_id: int, ahead: "Place | None") -> None:
        self._queues = queues
        self.user_id = user_id
        self.queued = ahead is not None  # someone was ahead when admitted
        self._ahead = ahead
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def turn(self) -> None:
        """Wait until everyone admitted before this place has left their place."""
        if self._ahead is not None:
            await asyncio.shield(self._ahead.done)

    async def __aenter__(self) -> "Place":
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self._queues._leave(self)


class UserQueues:
    """Per-user lines: one place being served and at most MAX_WAITING_PER_USER waiting."""

    def __init__(self, max_waiting: int = MAX_WAITING_PER_USER) -> None:
        self.max_waiting = max_waiting
        self._lines: dict[int, deque[Place]] = {}

    def admit(self, user_id: int) -> Place | None:
        """A place at the end of the user's line, or None when the line is full."""
        line = self._lines.setdefault(user_id, deque())
        if len(line) > self.max_waiting:
            return None
        place = Place(self, user_id, line[-1] if line else None)
        line.append(place)
        return place

    def _leave(self, place: Place) -> None:
        """Give the place up. One that leaves before its turn (its status message failed)
        hands on only once those ahead of it are done, so order is kept."""
        line = self._lines[place.user_id]
        line.remove(place)
        if not line:
            del self._lines[place.user_id]
        ahead = place._ahead
        if ahead is None or ahead.done.done():
            place.done.set_result(None)
        else:
            ahead.done.add_done_callback(lambda _: place.done.set_result(None))


class PagingLine(UserQueues):
    """Paging (More, /top) one page at a time per user, with at most one request waiting.

    Without it, 50 presses of one More button all read the paging position before any page
    was delivered and sent 50 copies of the same page. Serialised, each request sees the
    position the previous page moved, so pages are successive; bounded, a burst costs at most
    two pages: the one being sent and the one asked for while it was. The rest of a burst is
    an impatient repeat, not a wish for more pages: a press is answered with a toast (no
    message), a command is told once per burst. A request that arrives just after a page was
    delivered still waits its turn instead of being turned away.
    """

    def __init__(self, max_waiting: int = 1) -> None:
        super().__init__(max_waiting)
        self._told: set[int] = set()  # users told about turned-away commands in this burst

    def tell_once(self, user_id: int) -> bool:
        """True for the first turned-away command while the user's line is busy, then False."""
        if user_id in self._told:
            return False
        self._told.add(user_id)
        return True

    def _leave(self, place: Place) -> None:
        super()._leave(place)
        if place.user_id not in self._lines:  # the burst is over: the next one is told again
            self._told.discard(place.user_id)
