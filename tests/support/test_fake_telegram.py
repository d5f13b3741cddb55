"""The fake Bot API server, driven by python-telegram-bot's real Bot and Application, so the
end-to-end tests built on it can trust what it answers."""

import asyncio
import datetime as dtm
import re
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fake_telegram import DOWNLOAD, PROXY_502_PAGE, FakeTelegram, FakeUser
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MessageEntity,
    Update,
)
from telegram.error import BadRequest, Conflict, InvalidToken, NetworkError, RetryAfter
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

ANN = FakeUser(1001, "Ann", username="ann", language_code="en")
BORIS = FakeUser(1002, "Борис", language_code="ru")
KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data="more:1")]])


@pytest.fixture
def tg() -> Iterator[FakeTelegram]:
    with FakeTelegram() as server:
        yield server


@pytest.fixture
async def bot(tg: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(tg.token, base_url=tg.api_base_url, base_file_url=tg.file_base_url) as bot:
        yield bot


async def test_get_me_identifies_the_test_bot(tg: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (tg.bot_id, "soundalike_test_bot", True)
    assert re.fullmatch(rf"{tg.bot_id}:AA[A-Za-z0-9_-]{{33}}", tg.token)  # BotFather's shape
    assert [c.method for c in tg.calls()] == ["getMe", "getMe"]  # initialize() calls it too


async def test_send_message_is_recorded_decoded(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_chat(ANN)
    sent = await bot.send_message(
        ANN.id, "<b>Hi</b> &amp; <i>bye</i>", parse_mode="HTML", reply_markup=KEYBOARD
    )
    assert sent.text == "Hi & bye"  # markup parsed away, like Telegram
    assert sent.reply_markup == KEYBOARD
    assert sent.chat.id == ANN.id and sent.from_user.id == tg.bot_id
    [params] = tg.sent_messages(ANN.id)
    assert params["chat_id"] == ANN.id
    assert params["text"] == "<b>Hi</b> &amp; <i>bye</i>"
    assert params["parse_mode"] == "HTML"
    assert params["reply_markup"] == {
        "inline_keyboard": [[{"text": "More", "callback_data": "more:1"}]]
    }
    assert params["message_id"] == sent.message_id
    assert tg.sent_messages(BORIS.id) == []


async def test_numeric_texts_stay_strings(tg: FakeTelegram, bot: Bot) -> None:
    """PTB sends str unencoded and numbers JSON-encoded: "42" must not become 42."""
    tg.add_chat(ANN)
    await bot.send_message(ANN.id, "42")
    assert tg.sent_messages()[0]["text"] == "42"


async def test_telegram_rejections_are_mimicked(tg: FakeTelegram, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(BORIS.id, "hello")
    tg.add_chat(BORIS)
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(BORIS.id, "I <3 this", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(BORIS.id, "line<br>break", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(BORIS.id, "я" * 4097)
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(BORIS.id, "hi", reply_markup=too_long)
    assert [c.status for c in tg.calls("sendMessage")] == [400] * 5
    assert tg.sent_messages() == []


async def test_edits_follow_telegram_rules(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_chat(ANN)
    sent = await bot.send_message(ANN.id, "one", reply_markup=KEYBOARD)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("one", ANN.id, sent.message_id, reply_markup=KEYBOARD)
    edited = await bot.edit_message_text("two", ANN.id, sent.message_id)
    assert edited.text == "two" and edited.reply_markup is None  # no markup given: dropped
    await bot.edit_message_reply_markup(ANN.id, sent.message_id, reply_markup=KEYBOARD)
    current = tg.message(ANN.id, sent.message_id)
    assert current is not None and current["reply_markup"]["inline_keyboard"][0][0]["text"]
    assert await bot.delete_message(ANN.id, sent.message_id)
    assert tg.message(ANN.id, sent.message_id) is None
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("three", ANN.id, sent.message_id)


async def test_commands_and_chat_actions(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_chat(ANN)
    commands = [BotCommand("top", "Top results"), BotCommand("help", "Help")]
    assert await bot.set_my_commands(commands)
    assert await bot.get_my_commands() == tuple(commands)
    assert tg.commands() == [c.to_dict() for c in commands]
    with pytest.raises(BadRequest):
        await bot.set_my_commands([BotCommand("Top", "uppercase is invalid")])
    assert await bot.send_chat_action(ANN.id, "typing")
    assert tg.calls("sendChatAction")[0].params == {"chat_id": ANN.id, "action": "typing"}


async def test_updates_parse_into_ptb_objects(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_chat(ANN)
    menu = await bot.send_message(ANN.id, "Results", reply_markup=KEYBOARD)
    tg.push_update(tg.text_message(ANN, "/top@soundalike_test_bot 5"))
    tg.push_update(
        tg.audio_message(ANN, "AUD1", 5_000_000, 200, "audio/mpeg", "a.mp3", "Song", "Band")
    )
    tg.push_update(tg.document_message(BORIS, "DOC1", 7_000, "audio/flac", "b.flac"))
    tg.push_update(tg.voice_message(ANN, "VOI1", 9_000, 7))
    tg.push_update(tg.callback_query(ANN, menu.message_id, "more:1"))

    text, audio, document, voice, callback = await bot.get_updates(timeout=1)

    assert text.message is not None and text.message.text == "/top@soundalike_test_bot 5"
    entity = text.message.entities[0]
    assert (entity.type, entity.offset, entity.length) == (MessageEntity.BOT_COMMAND, 0, 24)
    handler = CommandHandler("top", lambda u, c: None)
    assert handler.check_update(text)  # PTB's own matching accepts it, @botname included
    assert not CommandHandler("start", lambda u, c: None).check_update(text)
    assert text.effective_user is not None and text.effective_user.username == "ann"
    assert text.effective_chat is not None and text.effective_chat.type == "private"

    assert audio.message is not None and audio.message.audio is not None
    a = audio.message.audio
    assert (a.file_id, a.file_size, a.mime_type, a.file_name) == (
        "AUD1",
        5_000_000,
        "audio/mpeg",
        "a.mp3",
    )
    assert (a.title, a.performer) == ("Song", "Band") and a.file_unique_id

    assert document.message is not None and document.message.document is not None
    assert document.message.document.file_name == "b.flac"
    assert document.message.from_user is not None
    assert document.message.from_user.language_code == "ru"

    assert voice.message is not None and voice.message.voice is not None
    assert (voice.message.voice.file_id, voice.message.voice.mime_type) == ("VOI1", "audio/ogg")

    query = callback.callback_query
    assert query is not None and query.data == "more:1" and query.from_user.id == ANN.id
    assert query.message is not None and query.message.message_id == menu.message_id
    assert query.message.reply_markup == KEYBOARD  # type: ignore[union-attr]
    assert await query.answer("ok")
    assert tg.calls("answerCallbackQuery")[0].params["callback_query_id"] == query.id

    ids = [u.update_id for u in (text, audio, document, voice, callback)]
    assert ids == list(range(ids[0], ids[0] + 5))
    # message ids count per chat, shared with the bot's own messages
    assert text.message.message_id == menu.message_id + 1


async def test_offset_confirms_and_limit_caps(tg: FakeTelegram, bot: Bot) -> None:
    first = tg.push_update(tg.text_message(ANN, "one"))
    tg.push_update(tg.text_message(ANN, "two"))
    assert len(await bot.get_updates(limit=1)) == 1
    again = await bot.get_updates()
    assert [u.update_id for u in again] == [first["update_id"], first["update_id"] + 1]
    assert await bot.get_updates(offset=again[-1].update_id + 1) == ()
    assert tg.pending_update_count == 0


async def test_long_poll_times_out_empty(bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert 0.9 <= time.monotonic() - started < 3


async def test_long_poll_wakes_on_push(tg: FakeTelegram, bot: Bot) -> None:
    timer = threading.Timer(0.2, tg.push_update, [tg.text_message(ANN, "late")])
    timer.start()
    started = time.monotonic()
    [update] = await bot.get_updates(timeout=10)
    assert update.message is not None and update.message.text == "late"
    assert time.monotonic() - started < 2


async def test_second_poller_conflicts_the_first(tg: FakeTelegram, bot: Bot) -> None:
    async with Bot(tg.token, base_url=tg.api_base_url) as other:
        first = asyncio.create_task(bot.get_updates(timeout=10))
        await asyncio.sleep(0.2)
        assert await other.get_updates(timeout=0) == ()
        with pytest.raises(Conflict, match="only one bot instance"):
            await first


async def test_get_file_and_downloads_are_counted(
    tg: FakeTelegram, bot: Bot, tmp_path: Path
) -> None:
    tg.add_file("AUD1", b"ID3 fake mp3 bytes", "music/file_7.mp3")
    tg.add_file("AUD2", b"never fetched")
    tg.add_file("HUGE", b"", file_size=25 * 1024 * 1024)

    file = await bot.get_file("AUD1")
    assert (file.file_id, file.file_size) == ("AUD1", 18)
    assert file.file_path == f"{tg.file_base_url}{tg.token}/music/file_7.mp3"
    assert bytes(await file.download_as_bytearray()) == b"ID3 fake mp3 bytes"
    buffer = bytearray()
    await file.download_to_memory(_Sink(buffer))
    target = await file.download_to_drive(tmp_path / "x.mp3")
    assert target.read_bytes() == b"ID3 fake mp3 bytes" == bytes(buffer)
    assert tg.downloads("AUD1") == 3
    assert tg.downloads("AUD2") == 0
    assert len(tg.calls(DOWNLOAD)) == 3

    with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
        await bot.get_file("NOPE")
    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        await bot.get_file("HUGE")


class _Sink:
    """A minimal writable for download_to_memory."""

    def __init__(self, buffer: bytearray) -> None:
        self.buffer = buffer

    def write(self, data: bytes) -> int:
        self.buffer.extend(data)
        return len(data)


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_429_surfaces_as_retry_after(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_chat(ANN)
    tg.fail_next("sendMessage", 1, 429, retry_after=1)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(ANN.id, "hi")
    # an int, or a timedelta with PTB_TIMEDELTA=true
    assert caught.value.retry_after in (1, dtm.timedelta(seconds=1))
    await bot.send_message(ANN.id, "hi")  # only the next call failed
    assert [c.status for c in tg.calls("sendMessage")] == [429, 200]


@pytest.mark.parametrize("body", [PROXY_502_PAGE, b"", None])
async def test_502_surfaces_as_network_error(
    tg: FakeTelegram, bot: Bot, body: bytes | None
) -> None:
    tg.fail_next("getUpdates", 2, 502, body=body)
    for _ in range(2):
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.get_updates()
    assert await bot.get_updates() == ()


async def test_wrong_token_is_invalid(tg: FakeTelegram) -> None:
    wrong = f"{tg.bot_id}:AA" + "x" * 33
    with pytest.raises(InvalidToken):
        async with Bot(wrong, base_url=tg.api_base_url):
            pass
    assert tg.calls("getMe")[0].status == 401


async def test_unknown_method_is_not_found(bot: Bot) -> None:
    with pytest.raises(Exception, match="not found"):
        await bot.do_api_request("noSuchMethod")
    assert await bot.set_my_description("Finds music that sounds like yours")


def test_stop_ends_a_pending_long_poll() -> None:
    tg = FakeTelegram().start()
    url = f"{tg.api_base_url}{tg.token}/getUpdates?timeout=30"
    answers: list[bytes] = []
    poller = threading.Thread(target=lambda: answers.append(urllib.request.urlopen(url).read()))
    poller.start()
    time.sleep(0.2)
    started = time.monotonic()
    tg.stop()
    poller.join(timeout=5)
    assert not poller.is_alive() and time.monotonic() - started < 2
    assert answers == [b'{"ok": true, "result": []}']


def test_wait_for_times_out_with_a_dump(tg: FakeTelegram) -> None:
    url = f"{tg.api_base_url}{tg.token}/getMe"
    urllib.request.urlopen(url).read()
    assert tg.wait_for("getMe", timeout=1)[0].ok
    with pytest.raises(AssertionError, match=r"(?s)sendMessage.*getMe \{\} -> ok"):
        tg.wait_for("sendMessage", timeout=0.1)


async def test_application_answers_start_through_polling(tg: FakeTelegram) -> None:
    """The whole PTB stack: bootstrap, polling across a 502, handlers, clean shutdown."""

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text("Welcome", reply_markup=KEYBOARD)

    async def more(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer()
        await update.callback_query.edit_message_text("More results")

    app = (
        ApplicationBuilder()
        .token(tg.token)
        .base_url(tg.api_base_url)
        .base_file_url(tg.file_base_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(more))
    tg.fail_next("getUpdates", 1, 502, body=PROXY_502_PAGE)  # PTB retries after 1 s
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        tg.push_update(tg.text_message(ANN, "/start"))
        [reply] = await tg.wait_for_async("sendMessage", timeout=10)
        assert reply.params["text"] == "Welcome" and reply.params["chat_id"] == ANN.id
        tg.push_update(tg.callback_query(ANN, reply.result["message_id"], "more:1"))
        await tg.wait_for_async("editMessageText", timeout=10)
        await app.updater.stop()
        await app.stop()
    assert tg.calls("answerCallbackQuery")[0].ok
    assert tg.message(ANN.id, reply.result["message_id"])["text"] == "More results"  # type: ignore[index]
    assert tg.calls("deleteWebhook")[0].ok
    assert tg.pending_update_count == 0  # the final getUpdates confirmed everything


async def test_uploads_arrive_as_file_parts(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_chat(ANN)
    sent = await bot.send_document(
        ANN.id, b"a,b\n1,2\n", filename="catalog.csv", caption="<b>42</b>", parse_mode="HTML"
    )
    assert sent.document is not None and sent.document.file_name == "catalog.csv"
    assert sent.caption == "42"
    params = tg.calls("sendDocument")[0].params
    assert params["document"].data == b"a,b\n1,2\n"
    assert params["document"].filename == "catalog.csv"
    assert (params["chat_id"], params["caption"]) == (ANN.id, "<b>42</b>")


async def test_local_mode_serves_absolute_paths(tmp_path: Path) -> None:
    """Like telegram-bot-api --local: getFile names a file on disk, which PTB copies."""
    with FakeTelegram(local_mode=True) as tg:
        assert tg.env()["TELEGRAM_LOCAL_MODE"] == "true"
        tg.add_file("BIG", b"x" * 1000, "music/file_1.mp3", file_size=30 * 1024 * 1024)
        async with Bot(tg.token, base_url=tg.api_base_url, local_mode=True) as bot:
            file = await bot.get_file("BIG")
            assert file.file_path is not None and Path(file.file_path).is_absolute()
            target = await file.download_to_drive(tmp_path / "big.mp3")
        assert target.read_bytes() == b"x" * 1000
        assert tg.downloads("BIG") == 0  # read from disk, not over HTTP


async def test_a_burst_pushed_at_once_is_answered_as_one_batch(tg: FakeTelegram, bot: Bot) -> None:
    """A user pressing a button 50 times within a second: the bot gets one batch of 50, whether
    the long poll was already waiting or not (they are queued under one lock)."""
    tg.add_chat(ANN)
    menu = await bot.send_message(ANN.id, "Results", reply_markup=KEYBOARD)
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    tg.push_updates([tg.callback_query(ANN, menu.message_id, "more:1") for _ in range(50)])
    updates = await poll
    assert len(updates) == 50
    assert len({u.callback_query.id for u in updates if u.callback_query}) == 50


async def test_one_5xx_on_a_method_then_it_answers_again(tg: FakeTelegram, bot: Bot) -> None:
    tg.add_chat(ANN)
    tg.fail_next("sendMessage", status=503)
    with pytest.raises(NetworkError, match="Service Unavailable"):
        await bot.send_message(ANN.id, "🎧 Analysing…")
    assert (await bot.send_message(ANN.id, "🎧 Analysing…")).text == "🎧 Analysing…"
    assert [c.status for c in tg.calls("sendMessage")] == [503, 200]
