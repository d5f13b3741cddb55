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
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot.recommender import EmptyCatalogError, page, recommend
from bot.rendering import header_lines, result_keyboard, result_lines, split_messages
from bot.services import MAX_WAITING_PER_USER, Services, services
from bot.texts import Texts, texts_for
from core.audio import AUDIO_SUFFIXES
from core.constants import MIN_TRACK_SECONDS
from core.errors import (
    AudioError,
    DecodeTimeoutError,
    NotAudioError,
    SilentError,
    TooShortError,
)
from storage import Query, SentMedia

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


async def help_command(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
    """/start and /help."""
    texts = texts_for(update.effective_user.language_code)
    await update.effective_message.reply_html(texts.help)


async def on_track(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An audio, voice or document message: check, queue, download, analyse, answer once."""
    message, user = update.effective_message, update.effective_user
    texts, found = texts_for(user.language_code), services(context)
    attachment = attachment_of(message)
    if attachment is None:
        await message.reply_html(texts.not_audio_document)
        return
    limit_bytes = found.settings.max_file_mb * 1024 * 1024
    if attachment.size is not None and attachment.size > limit_bytes:
        size_mb = f"{attachment.size / 1024 / 1024:.1f}"
        limit_mb = found.settings.max_file_mb
        await message.reply_html(texts.too_big.format(size=size_mb, limit=limit_mb))
        return
    if found.queues.waiting(user.id) >= MAX_WAITING_PER_USER:
        await message.reply_html(texts.queue_full.format(count=found.queues.waiting(user.id)))
        return
    name = escape(attachment.name)
    queued = found.queues.busy(user.id)
    status = await message.reply_html(
        (texts.queued if queued else texts.analysing).format(name=name)
    )
    async with found.queues.turn(user.id):
        if queued:
            await status.edit_text(texts.analysing.format(name=name), parse_mode=ParseMode.HTML)
        await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
        try:
            text, keyboard = await _analyse(context, found, texts, user.id, attachment, limit_bytes)
        except Exception:  # the status message must not be left saying "Analysing…"
            log.exception("analysis failed user=%s kind=%s", user.id, attachment.kind)
            text, keyboard = texts.failed, None
        await status.edit_text(
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=keyboard,
            disable_web_page_preview=True,
        )


async def _analyse(
    context: ContextTypes.DEFAULT_TYPE,
    found: Services,
    texts: Texts,
    user_id: int,
    attachment: Attachment,
    limit_bytes: int,
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The reply's text and keyboard for one track; the temp file never outlives the call."""
    path = found.downloads / f"{uuid.uuid4().hex}{attachment.suffix}"
    started = time.monotonic()
    try:
        timeout = 30 + (attachment.size or limit_bytes) / DOWNLOAD_BYTES_PER_SECOND
        remote = await context.bot.get_file(attachment.file_id, read_timeout=timeout)
        if remote.file_size is not None and remote.file_size > limit_bytes:
            size_mb = f"{remote.file_size / 1024 / 1024:.1f}"
            return texts.too_big.format(size=size_mb, limit=found.settings.max_file_mb), None
        await remote.download_to_drive(path, read_timeout=timeout, write_timeout=timeout)
        downloaded = time.monotonic()
        embedding = await found.embedder.embed(path)
        result = await recommend(found.database, found.catalog, embedding, found.settings.model)
    except BadRequest as error:
        if "too big" in error.message.lower():
            limit = found.settings.max_file_mb
            return texts.too_big.format(size=f"> {limit}", limit=limit), None
        raise
    except AudioError as error:
        log.info("unusable track user=%s kind=%s reason=%s", user_id, attachment.kind, error)
        return audio_error_text(error, texts), None
    except EmptyCatalogError:
        return texts.empty_catalog, None
    finally:
        path.unlink(missing_ok=True)
    elapsed = time.monotonic() - started
    query_id = await found.database.queries.save(
        user_id, attachment.sent, result.model_id, result.track_ids, result.scores, elapsed
    )
    items = await page(found.database, result.track_ids, result.scores, 0, PAGE_SIZE)
    position = await found.database.queries.set_position(query_id, PAGE_SIZE) or 0
    log.info(
        "answered user=%s kind=%s bytes=%s download=%.2fs analysis=%.2fs results=%d",
        user_id,
        attachment.kind,
        attachment.size,
        downloaded - started,
        time.monotonic() - downloaded,
        len(result.track_ids),
    )
    tags = [tag for tag, _ in embedding.top_tags(3)]
    header = header_lines(texts, attachment.name, tags, result.in_catalog)
    text = "\n".join([*header, *result_lines(items, texts)])
    return text, result_keyboard(query_id, texts, more=position < len(result.track_ids))


async def _send_page(
    update: Update, context: ContextTypes.DEFAULT_TYPE, query: Query, start: int, count: int
) -> None:
    """Send results start+1 … start+count of `query` and move its paging position there."""
    found, texts = services(context), texts_for(update.effective_user.language_code)
    items = await page(found.database, query.track_ids, query.scores, start, count)
    position = await found.database.queries.set_position(query.id, start + count) or 0
    messages = split_messages([], result_lines(items, texts))
    for index, text in enumerate(messages):
        last = index == len(messages) - 1
        await context.bot.send_message(
            update.effective_chat.id,
            text,
            parse_mode=ParseMode.HTML,
            disable_web_page_preview=True,
            reply_markup=result_keyboard(query.id, texts, position < len(query)) if last else None,
        )


async def top_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/top: the next 10 results of the user's last track; /top N: its top N (1–50)."""
    message, user = update.effective_message, update.effective_user
    texts, found = texts_for(user.language_code), services(context)
    args = context.args or []
    wanted: int | None = None
    if args:
        if len(args) != 1 or not args[0].isdigit() or not 1 <= int(args[0]) <= TOP_MAX:
            await message.reply_html(texts.top_usage)
            return
        wanted = int(args[0])
    query = await found.database.queries.latest_for_user(user.id)
    if query is None:
        await message.reply_html(texts.no_query)
        return
    if wanted is not None:
        await _send_page(update, context, query, 0, wanted)
    elif query.position >= len(query):
        await message.reply_html(texts.no_more)
    else:
        await _send_page(update, context, query, query.position, PAGE_SIZE)


async def on_more(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The "More ▸" button: the next page of the list it sits under."""
    callback, user = update.callback_query, update.effective_user
    texts, found = texts_for(user.language_code), services(context)
    query_id = int(callback.data.split(":")[1])
    query = await found.database.queries.get(query_id)
    if query is None or query.user_id != user.id:
        await callback.answer(texts.expired_button, show_alert=True)
        return
    await callback.answer()
    if query.position >= len(query):
        await context.bot.send_message(update.effective_chat.id, texts.no_more)
    else:
        await _send_page(update, context, query, query.position, PAGE_SIZE)
    # the old list keeps its vote buttons and loses "More" (if it is still editable)
    with contextlib.suppress(BadRequest):
        await callback.edit_message_reply_markup(result_keyboard(query_id, texts, more=False))


async def on_vote(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """👍/👎 under a result list: stored per user and list; a new vote replaces the old."""
    callback, user = update.callback_query, update.effective_user
    texts, found = texts_for(user.language_code), services(context)
    _, query_id, vote = callback.data.split(":")
    query = await found.database.queries.get(int(query_id))
    if query is None or query.user_id != user.id:
        await callback.answer(texts.expired_button, show_alert=True)
        return
    await found.database.feedback.vote(query.id, user.id, int(vote))
    log.info("feedback user=%s query=%s vote=%s", user.id, query.id, vote)
    await callback.answer(texts.thanks_vote)


async def on_other_message(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
    """Text, photos, stickers…: say what the bot wants instead."""
    texts = texts_for(update.effective_user.language_code)
    message = update.effective_message
    await message.reply_html(texts.send_audio if message.text else texts.not_audio)


async def on_stale_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button whose data this version does not understand: answer so no spinner is left."""
    texts = texts_for(update.effective_user.language_code)
    await update.callback_query.answer(texts.expired_button)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the failure; tell the user something went wrong instead of leaving them waiting."""
    log.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat and update.effective_user:
        texts = texts_for(update.effective_user.language_code)
        try:
            await context.bot.send_message(update.effective_chat.id, texts.failed)
        except TelegramError:
            log.warning("could not tell user %s about the error", update.effective_user.id)
