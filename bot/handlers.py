"""What the bot does with a file or a video, /top, the result buttons and everything else a user
sends (links and search: bot/yandex_chat.py; exploring a result: bot/exploring.py).

The event loop only routes: the download streams to a private temp file, decoding and the model
run in the embedding workers, the database is reached through aiosqlite.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from telegram import Message, Update
from telegram.error import BadRequest, TelegramError

from bot.answering import (
    PAGE_SIZE,
    Reply,
    answer_in_line,
    answer_reply,
    send_page,
    users_list,
)
from bot.context import BotContext, pressed, sender
from bot.delivery import send
from bot.download import download
from bot.rendering import plain, without_more
from bot.texts import Texts, texts_for
from catalog.metadata import artist_of
from catalog.numbers import SQLITE_INT_MAX, parse_number, parse_row_id
from core.audio import AUDIO_SUFFIXES
from storage import SentMedia
from storage.errors import DiskFullError

log = logging.getLogger(__name__)

TOP_MAX = 50
DOWNLOAD_BYTES_PER_SECOND = 256 * 1024  # a pessimistic link: timeouts grow with the file
AUDIO_DOCUMENT_TYPES = ("audio/", "application/ogg", "video/")
# videos as ffmpeg's allowed demuxers read them (core.audio.ALLOWED_DEMUXERS: mov, matroska)
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm"})
KNOWN_SUFFIXES = AUDIO_SUFFIXES | VIDEO_SUFFIXES


@dataclass(frozen=True)
class Attachment:
    """A track as Telegram declares it, before anything is downloaded."""

    kind: str  # audio | voice | document | video | video_note | animation
    file_id: str
    size: int | None
    name: str  # what the user sees it called (escaped when shown)
    file_name: str | None
    duration: float | None
    suffix: str  # from KNOWN_SUFFIXES only: no user text reaches the file system
    artist: str | None = None  # the performer tag of an audio message

    @property
    def sent(self) -> SentMedia:
        return SentMedia(self.kind, self.file_name, self.size, self.duration, artist=self.artist)


def attachment_of(message: Message) -> Attachment | None:
    """The message's track; None for a document that is neither audio nor video."""
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
            audio.performer,
        )
    if message.video_note is not None:  # a round video: no name, always mp4
        note = message.video_note
        seconds = _seconds(note.duration)
        return Attachment("video_note", note.file_id, note.file_size, "🎬", None, seconds, ".mp4")
    # an animation message carries the same file as `document` too: it is read as the video
    video = message.animation or message.video
    if video is not None:
        kind = "animation" if message.animation is not None else "video"
        return Attachment(
            kind,
            video.file_id,
            video.file_size,
            video.file_name or "🎬",
            video.file_name,
            _seconds(video.duration),
            _suffix(video.file_name, ".mp4"),
        )
    document = message.document
    if document is None:
        return None
    suffix = Path(document.file_name or "").suffix.lower()
    mime = (document.mime_type or "").lower()
    if suffix not in KNOWN_SUFFIXES and not mime.startswith(AUDIO_DOCUMENT_TYPES):
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
    return suffix if suffix in KNOWN_SUFFIXES else default


async def help_command(update: Update, _: BotContext) -> None:
    """/start and /help."""
    message, user = sender(update)
    await message.reply_text(texts_for(user.language_code).help)


async def on_track(update: Update, context: BotContext) -> None:
    """An audio, voice, video or document message: check, queue, download, analyse, answer."""
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

    async def work() -> Reply:
        return await _analyse(context, texts, user.id, attachment)

    await answer_in_line(context, message.chat_id, user, texts, attachment.name, work)


async def _analyse(
    context: BotContext, texts: Texts, user_id: int, attachment: Attachment
) -> Reply:
    """The reply to one file; the temp file never outlives the call."""
    resources = context.resources
    limit_bytes = resources.settings.max_file_mb * 1024 * 1024
    path = resources.downloads / f"{uuid.uuid4().hex}{attachment.suffix}"
    recommender = resources.recommender
    started = time.monotonic()
    try:
        timeout = 30 + (attachment.size or limit_bytes) / DOWNLOAD_BYTES_PER_SECOND
        remote = await context.bot.get_file(attachment.file_id, read_timeout=timeout)
        if remote.file_size is not None and remote.file_size > limit_bytes:
            size_mb = f"{remote.file_size / 1024 / 1024:.1f}"
            limit = resources.settings.max_file_mb
            return Reply([texts.too_big.format(size=size_mb, limit=limit)])
        await download(remote, path, timeout=timeout)
        downloaded = time.monotonic()
        sent = attachment.sent
        if sent.artist is None:  # no performer declared: the file's tag or its name may say
            artist = await asyncio.to_thread(artist_of, path, attachment.file_name)
            sent = replace(sent, artist=artist)
        answer = await recommender.answer(path, user_id=user_id, sent=sent)
    except BadRequest as error:
        if "too big" in error.message.lower():
            limit = resources.settings.max_file_mb
            return Reply([texts.too_big.format(size=f"> {limit}", limit=limit)])
        raise
    finally:
        path.unlink(missing_ok=True)
    log.info(
        "answered user=%s kind=%s bytes=%s download=%.2fs analysis=%.2fs results=%d",
        user_id,
        attachment.kind,
        attachment.size,
        downloaded - started,
        answer.seconds,
        len(answer),
    )
    return await answer_reply(resources, texts, user_id, answer, attachment.name)


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
            await send_page(context, message.chat_id, texts, user.id, query, 0, wanted)
        elif query.position >= len(query):
            await message.reply_text(texts.no_more)
        else:
            start = query.position
            await send_page(context, message.chat_id, texts, user.id, query, start, PAGE_SIZE)


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
            await send_page(context, chat_id, texts, user.id, query, query.position, PAGE_SIZE)
    # the old list keeps its other buttons and loses "More" (if it is still editable); out of
    # the line, so a press on the new list's More does not wait for this cosmetic edit
    old = callback.message.reply_markup if isinstance(callback.message, Message) else None
    if old is not None:
        with contextlib.suppress(BadRequest):
            await callback.edit_message_reply_markup(without_more(old))


async def on_vote(update: Update, context: BotContext) -> None:
    """👍/👎 under a result list: stored per user and list; a new vote replaces the old."""
    callback, user, data = pressed(update)
    texts, resources = texts_for(user.language_code), context.resources
    _, query_text, vote = data.split(":")
    query = await users_list(resources, user.id, query_text)
    if query is None:
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
    """Photos, stickers, locations…: say what the bot wants instead."""
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
    if message is not None and attachment_of(message) is not None:
        return texts.failed
    return texts.failed_command
