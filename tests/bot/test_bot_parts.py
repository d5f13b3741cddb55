"""The bot's pure parts: settings, texts, rendering, per-user queues, attachments."""

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest
from fake_telegram import _html_to_text
from telegram import Audio, Chat, Document, Message, User, Voice

from bot.config import ConfigError, load_bot_settings
from bot.handlers import attachment_of
from bot.queues import Place, UserQueues
from bot.refusals import Refusals
from bot.rendering import (
    MESSAGE_LIMIT,
    header_lines,
    result_lines,
    shorten,
    split_messages,
    visible_length,
)
from bot.texts import ENGLISH, RUSSIAN, Texts, texts_for
from catalog.recommender import Recommendation
from storage import Track

TOKEN = "123456789:" + "A" * 35


def test_bot_settings_validate_the_token_and_never_show_it() -> None:
    settings = load_bot_settings(
        {"BOT_TOKEN": TOKEN, "ADMIN_IDS": "1, 22,333", "TELEGRAM_API_URL": "http://x:8081/"}
    )
    assert settings.admin_ids == {1, 22, 333}
    assert settings.api_url == "http://x:8081"
    assert settings.max_file_mb == 20 and not settings.local_mode
    assert TOKEN not in repr(settings)
    local = load_bot_settings({"BOT_TOKEN": TOKEN, "TELEGRAM_LOCAL_MODE": "true"})
    assert local.local_mode and local.max_file_mb == 2000
    for values, message in (
        ({}, "BOT_TOKEN is not set"),
        ({"BOT_TOKEN": "12345:short"}, "BOT_TOKEN is malformed"),
        ({"BOT_TOKEN": TOKEN, "ADMIN_IDS": "1,bob"}, "ADMIN_IDS"),
        ({"BOT_TOKEN": TOKEN, "ADMIN_IDS": "²"}, "ADMIN_IDS"),
        ({"BOT_TOKEN": TOKEN, "ADMIN_IDS": "١٢"}, "ADMIN_IDS"),
        ({"BOT_TOKEN": TOKEN, "ADMIN_IDS": "9" * 30}, "ADMIN_IDS"),
        ({"BOT_TOKEN": TOKEN, "WORKERS": "³"}, "WORKERS"),
        ({"BOT_TOKEN": TOKEN, "TELEGRAM_LOCAL_MODE": "maybe"}, "TELEGRAM_LOCAL_MODE"),
        ({"BOT_TOKEN": TOKEN, "MAX_FILE_MB": "0"}, "MAX_FILE_MB"),
    ):
        with pytest.raises(ConfigError, match=message) as caught:
            load_bot_settings(values)
        assert TOKEN not in str(caught.value)


def test_languages() -> None:
    assert texts_for("ru") is RUSSIAN and texts_for("ru-RU") is RUSSIAN
    assert texts_for("en") is ENGLISH and texts_for(None) is ENGLISH and texts_for("de") is ENGLISH
    for field in Texts.__dataclass_fields__:  # every text exists in both, same placeholders
        english, russian = getattr(ENGLISH, field), getattr(RUSSIAN, field)
        assert english and russian
        placeholders = re.compile(r"\{(\w+)\}")
        assert set(placeholders.findall(english)) == set(placeholders.findall(russian)), field


def track(track_id: int, title: str, artist: str | None = None) -> Track:
    return Track(
        track_id, "0" * 64, title, artist, None, 200.0, None, None, None, datetime.now(UTC)
    )


def test_results_are_escaped_links_and_split_under_the_limit() -> None:
    evil = track(1, "<b>Title & co</b>", "A&B")
    lines = result_lines([Recommendation(1, evil, 0.874)], ENGLISH)
    assert lines == [
        '1. <a href="https://music.yandex.ru/search?text=A%26B+%3Cb%3ETitle+%26+co%3C%2Fb%3E">'
        "A&amp;B — &lt;b&gt;Title &amp; co&lt;/b&gt;</a> — 87%"
    ]
    header = header_lines(ENGLISH, "<x>", ["rock", "pop"], in_catalog=evil)
    assert header[0] == "🎶 <b>Sounds like &lt;x&gt;</b>" and "rock · pop" in header[1]
    long_title = "Т" * 150
    many = [Recommendation(i, track(i, long_title, "Исполнитель"), 0.5) for i in range(1, 51)]
    messages = split_messages(header, result_lines(many, RUSSIAN))
    assert len(messages) > 1 and all(shown_length(m) <= MESSAGE_LIMIT for m in messages)
    joined = "\n".join(messages)
    assert all(f"\n{i}. " in joined for i in range(1, 51))


def shown_length(html: str) -> int:
    """What Telegram counts, by the fake server's own HTML parser (it also rejects bad HTML)."""
    return len(_html_to_text(html).encode("utf-16-le")) // 2


@pytest.mark.parametrize(
    "title",
    ["Очень длинное название " * 20, "🎸🔥" * 300, "&<>" * 200],
    ids=["450", "emoji", "html"],
)
def test_long_titles_are_shortened_and_pages_fit_telegrams_limit(title: str) -> None:
    """Ten long titles used to exceed 4096 UTF-16 units after parsing, so the edit was refused."""
    header = header_lines(ENGLISH, title, ["rock"], in_catalog=track(99, title, title))
    items = [Recommendation(i, track(i, title, "Artist " + title[:40]), 0.5) for i in range(1, 11)]
    lines = result_lines(items, ENGLISH)
    assert all(visible_length(line) < 400 for line in lines)
    assert all(_html_to_text(line).count("…") == 1 for line in lines)  # shortened, marked
    messages = split_messages(header, lines)
    assert len(messages) == 1  # a first reply is one message
    assert shown_length(messages[0]) <= MESSAGE_LIMIT
    assert visible_length(messages[0]) == shown_length(messages[0])
    many = split_messages([], result_lines(items * 5, ENGLISH))
    assert all(shown_length(m) <= MESSAGE_LIMIT for m in many)  # /top 50: split between lines
    assert sum(m.count("\n") + 1 for m in many) == 50


def test_a_name_is_cut_between_characters_never_inside_an_emoji() -> None:
    assert shorten("abc", 3) == "abc"
    cut = shorten("🎸" * 10, 6)
    assert cut == "🎸🎸…" and len(cut.encode("utf-16-le")) // 2 <= 6


async def test_user_queues_run_one_track_per_user_in_order() -> None:
    queues, order = UserQueues(), []

    async def job(user: int, name: str, seconds: float) -> None:
        place = queues.admit(user)
        assert place is not None
        async with place:
            await place.turn()
            order.append(f"start {name}")
            await asyncio.sleep(seconds)
            order.append(f"end {name}")

    first = asyncio.create_task(job(1, "a", 0.05))
    await asyncio.sleep(0)
    await asyncio.gather(first, job(1, "b", 0.01), job(2, "c", 0.01))
    assert order.index("end a") < order.index("start b")  # same user: one after the other
    assert order.index("start c") < order.index("end a")  # another user: not blocked
    again = queues.admit(1)  # every place was given up: the next track waits for nobody
    assert again is not None and not again.queued


def message_with(**attachment: object) -> Message:
    chat, user = Chat(5, "private"), User(5, "U", False)
    return Message(1, datetime.now(UTC), chat, from_user=user, **attachment)


def test_attachments_from_metadata_only() -> None:
    minutes = timedelta(minutes=3)
    audio = message_with(
        audio=Audio("f1", "u1", minutes, performer="Кино", title="Кукушка", file_name="../x.MP3")
    )
    found = attachment_of(audio)
    assert found is not None and found.name == "Кино — Кукушка" and found.suffix == ".mp3"
    note = Voice("f2", "u2", timedelta(seconds=7), "audio/ogg", 9000)
    voice = attachment_of(message_with(voice=note))
    assert voice is not None and voice.kind == "voice" and voice.size == 9000
    assert voice.duration == 7.0
    text_doc = message_with(document=Document("f3", "u3", "notes.txt", "text/plain"))
    assert attachment_of(text_doc) is None
    odd = message_with(document=Document("f4", "u4", "track;rm -rf", "audio/mpeg"))
    found = attachment_of(odd)
    assert found is not None and found.suffix == ".bin"  # user text never names a file


async def test_a_burst_gets_one_turn_and_three_places_the_rest_are_refused() -> None:
    """Admission is atomic: updates handled concurrently cannot all see a free slot."""
    queues, started = UserQueues(), []

    async def track(number: int) -> bool:
        place = queues.admit(7)
        if place is None:
            return False
        async with place:
            await asyncio.sleep(0.01)  # the status message is sent before the turn comes
            await place.turn()
            started.append(number)
            await asyncio.sleep(0.01)
        return True

    for burst in (10, 30):
        started.clear()
        admitted = await asyncio.gather(*(track(i) for i in range(burst)))
        assert sum(admitted) == 4 and started == [0, 1, 2, 3]
    after = queues.admit(7)  # every place was given up: the next track waits for nobody
    assert after is not None and not after.queued


async def test_a_place_given_up_before_its_turn_keeps_the_order() -> None:
    queues, order = UserQueues(), []
    first, second, third = (queues.admit(1) for _ in range(3))
    assert first and second and third and second.queued and not first.queued

    async def run(place: Place, name: str) -> None:
        async with place:
            await place.turn()
            order.append(f"start {name}")
            await asyncio.sleep(0.02)
            order.append(f"end {name}")

    async def give_up(place: Place) -> None:
        async with place:
            pass

    await asyncio.gather(run(first, "a"), give_up(second), run(third, "c"))
    assert order == ["start a", "end a", "start c", "end c"]


def test_a_stranger_is_told_once_a_day_and_a_flood_is_rate_limited() -> None:
    now = [0.0]
    refusals = Refusals(interval=86_400, remembered=3, per_second=5, burst=10, clock=lambda: now[0])
    assert refusals.due(1) and not any(refusals.due(1) for _ in range(19))
    now[0] += 86_401
    assert refusals.due(1)  # a day later, once more
    flood = [refusals.due(user) for user in range(100, 400)]
    assert sum(flood) == 9  # the bucket's remaining tokens; the others are not remembered…
    now[0] += 10
    assert refusals.due(399)  # …so they are told when they write after the flood
    assert len(refusals._told) == 3  # bounded memory
