"""How every question gets its answer in the chat, whatever asked it (a file, a video, a Yandex
Music link or search result, a result explored): one policy, stated once.

- In the user's line (bot.queues): admitted atomically, at most MAX_WAITING_PER_USER waiting,
  one at a time, in order; a full line is told so and nothing is fetched.
- A status message at once ("Analysing…", or "queued"), edited into the answer (bot.delivery):
  never left saying "Analysing…", whatever fails. A quick question (a search) that need not
  wait is answered with a new message, without a status.
- Every reason a question cannot be answered has its own sentence (`failure_text`); anything
  unforeseen is logged and gets the generic one.
- An answer is a header, the first page of results as the user's "other artists" switch shows
  them, and the keyboard (bot.rendering); its paging position is saved once it was delivered,
  so /top and More continue after it.
"""

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from html import escape

from telegram import InlineKeyboardMarkup, User
from telegram.constants import ChatAction
from telegram.error import TelegramError

from bot.context import BotContext, Resources
from bot.delivery import announce, deliver, send
from bot.queues import MAX_WAITING_PER_USER
from bot.rendering import (
    HEADER_NAME_BUDGET,
    header_lines,
    result_keyboard,
    result_lines,
    shorten,
    split_messages,
)
from bot.texts import Texts
from catalog.numbers import parse_row_id
from catalog.recommender import Answer, EmptyCatalogError
from catalog.yandex.questions import (
    TooLongError,
    UnavailableError,
    YandexAccessError,
    YandexCallError,
)
from core.constants import MIN_TRACK_SECONDS
from core.errors import (
    AudioError,
    DecodeTimeoutError,
    NoSoundError,
    NotAudioError,
    NoWorkersError,
    SilentError,
    TooShortError,
)
from storage import Query, SentMedia
from storage.errors import DiskFullError

log = logging.getLogger(__name__)

PAGE_SIZE = 10
TAGS_SHOWN = 3


@dataclass(frozen=True)
class Reply:
    """What a question gets: messages, the keyboard under the last one, and (query id,
    ranking entries shown) once there is a list to page on."""

    messages: list[str]
    keyboard: InlineKeyboardMarkup | None = None
    shown: tuple[int, int] | None = None


def audio_error_text(error: AudioError, texts: Texts) -> str:
    """The user's sentence for each reason a track cannot be analysed."""
    if isinstance(error, TooShortError):
        return texts.too_short.format(seconds=f"{MIN_TRACK_SECONDS:g}")
    if isinstance(error, SilentError):
        return texts.silent
    if isinstance(error, DecodeTimeoutError):
        return texts.timeout
    if isinstance(error, NoSoundError):
        return texts.no_sound
    if isinstance(error, NotAudioError):
        return texts.undecodable
    return texts.failed


def failure_text(error: Exception, texts: Texts, resources: Resources) -> str | None:
    """The sentence for a foreseen reason a question has no answer; None for anything else."""
    if isinstance(error, AudioError):
        return audio_error_text(error, texts)
    if isinstance(error, EmptyCatalogError):
        return texts.empty_catalog
    if isinstance(error, NoWorkersError):  # a Ray cluster with no embedding worker left
        return texts.unavailable
    if isinstance(error, DiskFullError):  # the query could not be saved
        return texts.disk_full
    if isinstance(error, YandexAccessError):  # no token, or a revoked one
        return texts.yandex_refused if resources.questions.music.has_token else texts.no_token
    if isinstance(error, UnavailableError):
        return texts.track_unavailable
    if isinstance(error, TooLongError):
        limit = resources.questions.limits.max_bytes // (1 << 20)
        return texts.too_long.format(size=f"{error.megabytes:.0f}", limit=limit)
    if isinstance(error, YandexCallError):
        return texts.yandex_not_found if error.reason.endswith("not found") else texts.yandex_down
    return None


async def answer_in_line(
    context: BotContext,
    chat_id: int,
    user: User,
    texts: Texts,
    name: str,
    work: Callable[[], Awaitable[Reply]],
    *,
    status_text: str | None = None,
    quick: bool = False,
) -> None:
    """Run `work` in the user's line under a status message (see the module); `name` (plain
    text) is what the status calls the question, `status_text` replaces "Analysing {name}".
    A `quick` question (a search: one call) gets no status unless it waits its turn: its
    reply comes as a new message."""
    resources = context.resources
    place = resources.queues.admit(user.id)  # atomic: a burst cannot overrun the line
    if place is None:
        await send(context.bot, chat_id, texts.queue_full.format(count=MAX_WAITING_PER_USER))
        return
    shown_name = escape(shorten(name, HEADER_NAME_BUDGET))
    working = status_text or texts.analysing.format(name=shown_name)
    async with place:
        # retried like the answer; if it cannot be sent the question is answered all the same
        status = None
        if place.queued or not quick:
            status = await announce(
                context.bot,
                chat_id,
                texts.queued.format(name=shown_name) if place.queued else working,
            )
        await place.turn()
        if place.queued and status is not None:
            with contextlib.suppress(TelegramError):  # a cosmetic step; the answer follows
                await status.edit_text(working)
        with contextlib.suppress(TelegramError):
            await context.bot.send_chat_action(chat_id, ChatAction.TYPING)
        try:
            reply = await work()
        except Exception as error:  # the status message must not be left saying "Analysing…"
            text = failure_text(error, texts, resources)
            if text is None:
                log.exception("question failed user=%s", user.id)
                text = texts.failed
            else:
                log.info("no answer user=%s: %s: %s", user.id, type(error).__name__, error)
            reply = Reply([text])
        await deliver(context.bot, chat_id, reply.messages, reply.keyboard, status=status)
        if reply.shown is not None:  # the first page was delivered: /top continues after it
            await resources.database.queries.set_position(*reply.shown)


async def users_list(resources: Resources, user_id: int, query_text: str) -> Query | None:
    """The saved list a button names, when it is this user's (None for another user's, a
    forged or a deleted one)."""
    query_id = parse_row_id(query_text)
    query = None if query_id is None else await resources.database.queries.get(query_id)
    return query if query is not None and query.user_id == user_id else None


async def other_artists_for(
    resources: Resources, user_id: int, asked: SentMedia
) -> SentMedia | None:
    """What to leave out of the user's lists: the asked-about artist's tracks, when the user's
    "other artists" switch is on (None: the plain ranking)."""
    return asked if await resources.database.users.other_artists(user_id) else None


async def answer_reply(
    resources: Resources,
    texts: Texts,
    user_id: int,
    answer: Answer,
    name: str,
    *,
    title: str | None = None,
) -> Reply:
    """The answer's first page under its header (`title`: a template with {name}), with the
    analysed file's top tags (a stored vector has none)."""
    assert answer.query_id is not None, "answers to a user are saved"
    other = await other_artists_for(resources, user_id, answer.sent)
    recommender = resources.recommender
    page = await recommender.page_from(
        answer.track_ids, answer.scores, 0, PAGE_SIZE, other_artists_of=other
    )
    in_catalog = answer.in_catalog if title is None else None  # a named track needs no line
    tags = [tag for tag, _ in answer.embedding.top_tags(TAGS_SHOWN)] if answer.embedding else []
    header = header_lines(
        texts, name, tags, in_catalog, title=title, other_artists=other is not None
    )
    # ten results fit one message within Telegram's limits; a split, if ever, sends the rest after
    messages = split_messages(header, result_lines(page.items, texts))
    more_from = page.end if page.more else None
    keyboard = result_keyboard(answer.query_id, texts, more_from, page.items, other is not None)
    return Reply(messages, keyboard, (answer.query_id, page.end))


async def send_page(
    context: BotContext,
    chat_id: int,
    texts: Texts,
    user_id: int,
    query: Query,
    start: int,
    count: int,
    header: list[str] | None = None,
) -> None:
    """Send `count` results of `query` from ranking entry `start` (removed tracks skipped, and
    other artists only when the user's switch is on), then, once all arrived, move its paging
    position past the entries they used."""
    resources = context.resources
    other = await other_artists_for(resources, user_id, query.sent)
    page = await resources.recommender.page_from(
        query.track_ids, query.scores, start, count, other_artists_of=other
    )
    if not page.items:  # everything left was removed from the catalog (or filtered out)
        await send(context.bot, chat_id, texts.no_more)
    else:
        messages = split_messages(header or [], result_lines(page.items, texts))
        more_from = page.end if page.more else None
        keyboard = result_keyboard(query.id, texts, more_from, page.items, other is not None)
        await deliver(context.bot, chat_id, messages, keyboard)
    await resources.database.queries.set_position(query.id, page.end)
