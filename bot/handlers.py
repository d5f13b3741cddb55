"""What the bot does with a track, /top, the result buttons and everything else a user sends.

The event loop only routes: the download streams to a private temp file, decoding and the model
run in the embedding workers, the database is reached through aiosqlite.
"""

import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from html import escape
from pathlib import Path

from telegram import InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction
from telegram.error import BadRequest, TelegramError

from bot.context import BotContext, Resources, pressed, sender
from bot.delivery import announce, deliver, send
from bot.download import download
from bot.queues import MAX_WAITING_PER_USER
from bot.rendering import (
    HEADER_NAME_BUDGET,
    header_lines,
    plain,
    result_keyboard,
    result_lines,
    shorten,
    split_messages,
)
from bot.texts import Texts, texts_for
from catalog.numbers import SQLITE_INT_MAX, parse_number, parse_row_id
from catalog.recommender import EmptyCatalogError
from core.audio import AUDIO_SUFFIXES
from core.constants import MIN_TRACK_SECONDS
from core.errors import (
    AudioError,
    DecodeTimeoutError,
    NotAudioError,
    NoWorkersError,
    SilentError,
    TooShortError,
)
from storage import Query, SentMedia
from storage.errors import DiskFullError

log = logging.getLogger(__name__)

PAGE_SIZE = 10
TOP_MAX = 50
DOWNLOAD_BYTES_PER_SECOND = 256 * 1024  # a pessimistic link: timeouts grow with the file
AUDIO_DOCUMENT_TYPES = ("audio/", "application/ogg", "video/mp4", "video/webm")


@dataclass(frozen=True)
class Attachment:
    """A track as Telegram declares it, before anything is downloaded."""

    kind: str  # audio | voice | document
    file_id: str
    size: int | None
    name: str  # what the user sees it called (escaped when shown)
    file_name: str | None
    duration: float | None
    suffix: str  # from AUDIO_SUFFIXES only: no user text reaches the file system

    @property
    def sent(self) -> SentMedia:
        return SentMedia(self.kind, self.file_name, self.size, self.duration)


def attachment_of(message: Message) -> Attachment | None:
    """The message's track; None for a document that is not audio."""
    if message.voice is not None:
        voice = message.voice
        return Attachment(
            "voice", voice.file_id, voice.file_size, "🎤", None, _seconds(voice.duration), ".ogg"
        )
    if message.audio is not None:
        audio = message.audio
        named = " — ".join(part for part in (audio.performer, audio.title) if part)
        return Attachment(
            "audio",
            audio.file_id,
            audio.file_size,
            named or audio.file_name or "🎵",
            audio.file_name,
            _seconds(audio.duration),
            _suffix(audio.file_name, ".mp3"),
        )
    document = message.document
    if document is None:
        return None
    suffix = Path(document.file_name or "").suffix.lower()
    mime = (document.mime_type or "").lower()
    if suffix not in AUDIO_SUFFIXES and not mime.startswith(AUDIO_DOCUMENT_TYPES):
        return None
    return Attachment(
        "document",
        document.file_id,
        document.file_size,
        document.file_name or "🎵",
        document.file_name,
        None,
        _suffix(document.file_name, ".bin"),
    )


def _seconds(duration: timedelta | float | None) -> float | None:
    return duration.total_seconds() if isinstance(duration, timedelta) else duration


def _suffix(file_name: str | None, default: str) -> str:
    suffix = Path(file_name or "").suffix.lower()
    return suffix if suffix in AUDIO_SUFFIXES else default


def audio_error_text(error: AudioError, texts: Texts) -> str:
    """The user's sentence for each reason a track cannot be analysed."""
    if isinstance(error, TooShortError):
        return texts.too_short.format(seconds=f"{MIN_TRACK_SECONDS:g}")
    if isinstance(error, SilentError):
        return texts.silent
    if isinstance(error, DecodeTimeoutError):
        return texts.timeout
    if isinstance(error, NotAudioError):
        return texts.undecodable
    return texts.failed


async def help_command(update: Update, _: BotContext) -> None:
    """/start and /help."""
    message, user = sender(update)
    await message.reply_text(texts_for(user.language_code).help)


async def on_track(update: Update, context: BotContext) -> None:
    """An audio, voice or document message: check, queue, download, analyse, answer once."""
    message, user = sender(update)
    texts, resources = texts_for(user.language_code), context.resources
    attachment = attachment_of(message)
    if attachment is None:
        await message.reply_text(texts.not_audio_document)
        return
    limit_bytes = resources.settings.max_file_mb * 1024 * 1024
    if attachment.size is not None and attachment.size > limit_bytes:
        size_mb = f"{attachment.size / 1024 / 1024:.1f}"
        await message.reply_text(
            texts.too_big.format(size=size_mb, limit=resources.settings.max_file_mb)
        )
        return
    place = resources.queues.admit(user.id)  # atomic: a burst cannot overrun the line
    if place is None:
        await message.reply_text(texts.queue_full.format(count=MAX_WAITING_PER_USER))
        return
    name = escape(shorten(attachment.name, HEADER_NAME_BUDGET))
    async with place:
        # retried like the answer; if it cannot be sent the track is analysed all the same
        status = await announce(
            context.bot,
            message.chat_id,
            (texts.queued if place.queued else texts.analysing).format(name=name),
        )
        await place.turn()
        if place.queued and status is not None:
            with contextlib.suppress(TelegramError):  # a cosmetic step; the answer follows
                await status.edit_text(texts.analysing.format(name=name))
        with contextlib.suppress(TelegramError):
            await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
        try:
            texts_out, keyboard, shown = await _analyse(
                context, resources, texts, user.id, attachment
            )
        except DiskFullError as error:  # the query could not be saved: say so
            log.error("analysis not saved user=%s: %s", user.id, error)
            texts_out, keyboard, shown = [texts.disk_full], None, None
        except Exception:  # the status message must not be left saying "Analysing…"
            log.exception("analysis failed user=%s kind=%s", user.id, attachment.kind)
            texts_out, keyboard, shown = [texts.failed], None, None
        await deliver(context.bot, message.chat_id, texts_out, keyboard, status=status)
        if shown is not None:  # the first page was delivered: /top continues after it
            await resources.database.queries.set_position(*shown)


async def _analyse(
    context: BotContext,
    resources: Resources,
    texts: Texts,
    user_id: int,
    attachment: Attachment,
) -> tuple[list[str], InlineKeyboardMarkup | None, tuple[int, int] | None]:
    """The reply's messages and keyboard for one track, and (query id, ranking entries shown)
    once there is a list to page on; the temp file never outlives the call."""
    limit_bytes = resources.settings.max_file_mb * 1024 * 1024
    path = resources.downloads / f"{uuid.uuid4().hex}{attachment.suffix}"
    recommender = resources.recommender
    started = time.monotonic()
    try:
        timeout = 30 + (attachment.size or limit_bytes) / DOWNLOAD_BYTES_PER_SECOND
        remote = await context.bot.get_file(attachment.file_id, read_timeout=timeout)
        if remote.file_size is not None and remote.file_size > limit_bytes:
            size_mb = f"{remote.file_size / 1024 / 1024:.1f}"
            return (
                [texts.too_big.format(size=size_mb, limit=resources.settings.max_file_mb)],
                None,
                None,
            )
        await download(remote, path, timeout=timeout)
        downloaded = time.monotonic()
        answer = await recommender.answer(path, user_id=user_id, sent=attachment.sent)
    except BadRequest as error:
        if "too big" in error.message.lower():
            limit = resources.settings.max_file_mb
            return [texts.too_big.format(size=f"> {limit}", limit=limit)], None, None
        raise
    except AudioError as error:
        log.info("unusable track user=%s kind=%s reason=%s", user_id, attachment.kind, error)
        return [audio_error_text(error, texts)], None, None
    except EmptyCatalogError:
        return [texts.empty_catalog], None, None
    except NoWorkersError:  # a Ray cluster with no embedding worker left
        log.warning("no embedding worker for user=%s kind=%s", user_id, attachment.kind)
        return [texts.unavailable], None, None
    finally:
        path.unlink(missing_ok=True)
    assert answer.query_id is not None, "answers to a user are saved"
    page = await recommender.page_from(answer.track_ids, answer.scores, 0, PAGE_SIZE)
    log.info(
        "answered user=%s kind=%s bytes=%s download=%.2fs analysis=%.2fs results=%d",
        user_id,
        attachment.kind,
        attachment.size,
        downloaded - started,
        answer.seconds,
        len(answer),
    )
    tags = [tag for tag, _ in answer.embedding.top_tags(3)]
    header = header_lines(texts, attachment.name, tags, answer.in_catalog)
    # ten results fit one message within Telegram's limits; a split, if ever, sends the rest after
    messages = split_messages(header, result_lines(page.items, texts))
    keyboard = result_keyboard(answer.query_id, texts, page.end if page.more else None)
    return messages, keyboard, (answer.query_id, page.end)


async def _send_page(
    context: BotContext, chat_id: int, texts: Texts, query: Query, start: int, count: int
) -> None:
    """Send `count` results of `query` from ranking entry `start` (removed tracks skipped),
    then, once all arrived, move its paging position past the entries they used."""
    resources = context.resources
    page = await resources.recommender.page_from(query.track_ids, query.scores, start, count)
    if not page.items:  # everything left was removed from the catalog
        await send(context.bot, chat_id, texts.no_more)
    else:
        messages = split_messages([], result_lines(page.items, texts))
        keyboard = result_keyboard(query.id, texts, page.end if page.more else None)
        await deliver(context.bot, chat_id, messages, keyboard)
    await resources.database.queries.set_position(query.id, page.end)


async def top_command(update: Update, context: BotContext) -> None:
    """/top: the next 10 results of the user's last track; /top N: its top N (1–50).

    In the user's paging line (PagingLine): each /top sees the position the page before it
    moved, so a burst gives successive pages, never copies; beyond one waiting, a burst is
    told once that its results are on their way."""
    message, user = sender(update)
    texts, resources = texts_for(user.language_code), context.resources
    args = context.args or []
    wanted: int | None = None
    if args:
        wanted = parse_number(args[0], 1, TOP_MAX) if len(args) == 1 else None
        if wanted is None:
            await message.reply_text(texts.top_usage)
            return
    place = resources.paging.admit(user.id)  # atomic, like the track queue's admission
    if place is None:
        log.info("paging line full: /top turned away user=%s", user.id)
        if resources.paging.tell_once(user.id):
            await message.reply_text(texts.page_in_flight)
        return
    async with place:
        await place.turn()
        # read in turn: the position the previous page moved is the one seen here
        query = await resources.database.queries.latest_for_user(user.id)
        if query is None:
            await message.reply_text(texts.no_query)
        elif wanted is not None:
            await _send_page(context, message.chat_id, texts, query, 0, wanted)
        elif query.position >= len(query):
            await message.reply_text(texts.no_more)
        else:
            await _send_page(context, message.chat_id, texts, query, query.position, PAGE_SIZE)


async def on_more(update: Update, context: BotContext) -> None:
    """The "More ▸" button: the page after the list it sits under, once.

    In the user's paging line (PagingLine), the button's page start is compared with the
    stored position: a repeated press finds the page already sent and gets a toast, so 50
    presses send one page; presses beyond the one waiting get a toast at once."""
    callback, user, data = pressed(update)
    texts, resources = texts_for(user.language_code), context.resources
    fields = data.split(":")
    query_id = parse_row_id(fields[1])
    start = parse_number(fields[2], 0, SQLITE_INT_MAX) if len(fields) == 3 else None
    place = resources.paging.admit(user.id)
    if place is None:
        await callback.answer(texts.page_in_flight)
        return
    async with place:
        await place.turn()
        # read in turn: the position the previous page moved is the one seen here
        query = None if query_id is None else await resources.database.queries.get(query_id)
        malformed = len(fields) == 3 and start is None
        if query is None or query.user_id != user.id or malformed:
            await callback.answer(texts.expired_button, show_alert=True)
            return
        if start is not None and start != query.position:  # this button's page was sent
            await callback.answer(texts.already_sent)
            return
        await callback.answer()
        chat_id = callback.message.chat.id if callback.message is not None else user.id
        if query.position >= len(query):
            await send(context.bot, chat_id, texts.no_more)
        else:
            await _send_page(context, chat_id, texts, query, query.position, PAGE_SIZE)
    # the old list keeps its vote buttons and loses "More" (if it is still editable); out of
    # the line, so a press on the new list's More does not wait for this cosmetic edit
    with contextlib.suppress(BadRequest):
        await callback.edit_message_reply_markup(result_keyboard(query.id, texts, None))


async def on_vote(update: Update, context: BotContext) -> None:
    """👍/👎 under a result list: stored per user and list; a new vote replaces the old."""
    callback, user, data = pressed(update)
    texts, resources = texts_for(user.language_code), context.resources
    _, query_text, vote = data.split(":")
    query_id = parse_row_id(query_text)
    query = None if query_id is None else await resources.database.queries.get(query_id)
    if query is None or query.user_id != user.id:
        await callback.answer(texts.expired_button, show_alert=True)
        return
    try:
        await resources.database.feedback.vote(query.id, user.id, int(vote))
    except DiskFullError as error:
        log.error("vote not saved user=%s query=%s: %s", user.id, query.id, error)
        await callback.answer(plain(texts.disk_full), show_alert=True)
        return
    log.info("feedback user=%s query=%s vote=%s", user.id, query.id, vote)
    await callback.answer(texts.thanks_vote)


async def on_other_message(update: Update, _: BotContext) -> None:
    """Text, photos, stickers…: say what the bot wants instead."""
    message, user = sender(update)
    texts = texts_for(user.language_code)
    await message.reply_text(texts.send_audio if message.text else texts.not_audio)


async def on_stale_button(update: Update, _: BotContext) -> None:
    """A button whose data this version does not understand: answer so no spinner is left."""
    callback, user, _data = pressed(update)
    await callback.answer(texts_for(user.language_code).expired_button)


async def on_error(update: object, context: BotContext) -> None:
    """Log the failure; tell the user something went wrong instead of leaving them waiting.

    A button press is answered here too (should the handler have answered already, Telegram
    refuses the second answer, harmlessly), so no spinner outlives a failed handler."""
    log.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update) or update.effective_user is None:
        return
    texts = texts_for(update.effective_user.language_code)
    text = _failure_text(update, context.error, texts)
    if update.callback_query is not None:
        with contextlib.suppress(TelegramError):
            await update.callback_query.answer(plain(text))
    if update.effective_chat is not None:
        try:
            await context.bot.send_message(update.effective_chat.id, text)
        except TelegramError:
            log.warning("could not tell user %s about the error", update.effective_user.id)


def _failure_text(update: Update, error: BaseException | None, texts: Texts) -> str:
    """What failed, as far as the user can act on it: a full disk by name, a track's analysis,
    or any other command."""
    if isinstance(error, DiskFullError):
        return texts.disk_full
    message = update.effective_message
    if message is not None and (message.audio or message.voice or message.document):
        return texts.failed
    return texts.failed_command
