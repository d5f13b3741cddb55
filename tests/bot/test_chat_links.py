"""Yandex Music links and search in the chat, end to end: the real Application against the fake
Bot API and the Yandex Music stand-in (the real `yandex-music` client, TLS downloads), real
audio, workers and SQLite."""

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from audio_factory import encode, make_library, style_for, synth_music
from bot_harness import allow, resources_of, running, settings_for, to
from fake_telegram import Call, FakeTelegram, FakeUser
from fake_yandex import FakeYandex

from bot.app import CHAT_YANDEX_ATTEMPTS
from bot.config import YandexSettings
from bot.context import BotApplication
from catalog.importer import Importer
from catalog.metadata import MetadataTable, TrackMetadata

pytestmark = pytest.mark.asyncio(loop_scope="module")

CATALOG_SIZE = 12


@pytest.fixture(scope="module")
def ym(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeYandex]:
    with FakeYandex(tmp_path_factory.mktemp("yandex")) as server:
        yield server


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return make_library(tmp_path_factory.mktemp("library"), CATALOG_SIZE, seconds=10.0)


@pytest.fixture(scope="module")
def catalog_ids(ym: FakeYandex, library: list[Path]) -> dict[int, tuple[str, str]]:
    """The catalog's tracks on Yandex Music too: index → (album id, track id)."""
    ids = {}
    for i, path in enumerate(library):
        album_id, (track_id,) = ym.add_album(f"Album {i}", f"Artist {i}", [path.read_bytes()])
        ids[i] = (album_id, track_id)
    return ids


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(
    fake: FakeTelegram,
    ym: FakeYandex,
    library: list[Path],
    catalog_ids: dict[int, tuple[str, str]],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[BotApplication]:
    """The bot with the operator's Yandex token, over a catalog whose tracks know their ids."""
    database = tmp_path_factory.mktemp("db") / "bot.sqlite3"
    rows = {
        path.resolve(): TrackMetadata(
            title=f"Song {i}",
            artist=f"Artist {i}",
            yandex_track_id=catalog_ids[i][1],
            yandex_album_id=catalog_ids[i][0],
        )
        for i, path in enumerate(library)
    }
    yandex = YandexSettings(ym.token, ym.api_url)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SSL_CERT_FILE", str(ym.ca_file))  # trust the stand-in's TLS storage
        async with running(settings_for(fake, database, yandex=yandex)) as application:
            resources = resources_of(application)
            summary = await Importer(
                resources.database, resources.recommender.embedder, MetadataTable(rows, [])
            ).run(library)
            assert summary.added == CATALOG_SIZE, summary.lines()
            yield application


def new_track(folder: Path, seed: int) -> bytes:
    """An mp3 no catalog track resembles closely: a style of its own."""
    path = folder / f"new-{seed}.mp3"
    return encode(synth_music(12.0, seed=seed, **style_for(seed)), path, channels=2).read_bytes()


async def answer_to(fake: FakeTelegram, user: FakeUser, since: int, fragment: str) -> Call:
    """The edit that turned the user's status message into `fragment`'s text."""
    calls = await fake.wait_for_async(
        to(user.id, "editMessageText", fragment), since=since, timeout=120
    )
    return calls[-1]


def result_links(text: str) -> list[str]:
    return re.findall(r'<a href="([^"]+)">', text)


async def test_a_link_to_a_catalog_track_answers_from_its_vector_without_any_download(
    bot: BotApplication, fake: FakeTelegram, ym: FakeYandex, catalog_ids: dict[int, tuple[str, str]]
) -> None:
    user = FakeUser(5001, "Lena")
    await allow(bot, user)
    album_id, track_id = catalog_ids[3]
    yandex_calls, mark = len(ym.calls()), fake.mark()
    link = f"https://music.yandex.ru/album/{album_id}/track/{track_id}"
    fake.push_update(fake.text_message(user, link))

    text = (await answer_to(fake, user, mark, "Sounds like")).params["text"]
    assert "Sounds like Artist 3 — Song 3" in text  # named as the track asked about
    found = result_links(text)
    assert len(found) == 10 and all(url.startswith("https://music.yandex.ru/") for url in found)
    assert not [url for url in found if url.endswith(f"/track/{track_id}")]  # left out
    assert len(ym.calls()) == yandex_calls  # nothing asked of Yandex: no metadata, no mp3
    assert not [c for c in fake.calls()[mark:] if c.method == "getFile"]
    query = await resources_of(bot).database.queries.latest_for_user(user.id)
    assert query is not None and query.sent.kind == "yandex" and len(query) == 11


async def test_a_share_link_inside_a_sentence_downloads_a_new_track_once_and_answers(
    bot: BotApplication, fake: FakeTelegram, ym: FakeYandex, tmp_path: Path
) -> None:
    user = FakeUser(5002, "Misha", language_code="ru")
    await allow(bot, user)
    album_id, (track_id,) = ym.add_album("Новый", "Новая группа", [new_track(tmp_path, 40)])
    mark = fake.mark()
    fake.push_update(
        fake.text_message(
            user,
            f"послушай https://music.yandex.ru/album/{album_id}/track/{track_id}"
            "?utm_source=desktop&utm_medium=copy_link — огонь!",
        )
    )
    call = await answer_to(fake, user, mark, "Похоже на")
    assert "Похоже на Новая группа — Новый 1" in call.params["text"]
    assert len(result_links(call.params["text"])) == 10
    assert ym.downloads[track_id] == 1
    assert [c for c in fake.calls()[mark:] if to(user.id, "sendMessage", "Ищу трек")(c)]
    assert not list(resources_of(bot).downloads.iterdir())  # the mp3 is gone
    query = await resources_of(bot).database.queries.latest_for_user(user.id)
    assert query is not None and query.sent.artist == "Новая группа"


async def test_search_offers_three_tracks_as_buttons_and_a_tap_answers(
    bot: BotApplication, fake: FakeTelegram, ym: FakeYandex, tmp_path: Path
) -> None:
    user = FakeUser(5003, "Olga")
    await allow(bot, user)
    # found first, but a tap could not be answered: not offered
    ym.add_track("Blue River Live", "Searchable Band", new_track(tmp_path, 49), available=False)
    for n in range(4):
        ym.add_track(f"Blue River {n}", "Searchable Band", new_track(tmp_path, 50 + n))
    mark = fake.mark()
    fake.push_update(fake.text_message(user, "searchable band - blue river"))
    calls = await fake.wait_for_async(
        to(user.id, "sendMessage", "Found on Yandex Music"), since=mark
    )
    found = calls[-1]
    buttons = [row[0] for row in found.params["reply_markup"]["inline_keyboard"]]
    assert [b["text"] for b in buttons] == [
        f"Searchable Band — Blue River {n} (0:06)" for n in range(3)
    ]
    assert ym.calls("search")[-1].query["text"] == ["searchable band - blue river"]

    assert not [c for c in fake.calls()[mark:] if c.method == "editMessageText"]  # no status
    mark = fake.mark()
    message_id = found.result["message_id"]
    fake.push_update(fake.callback_query(user, message_id, buttons[1]["callback_data"]))
    text = (await answer_to(fake, user, mark, "Sounds like")).params["text"]
    assert "Sounds like Searchable Band — Blue River 1" in text
    assert len(result_links(text)) == 10


async def test_search_that_finds_nothing_says_so_with_an_example(
    bot: BotApplication, fake: FakeTelegram
) -> None:
    user = FakeUser(5004, "Petr")
    await allow(bot, user)
    mark = fake.mark()
    fake.push_update(fake.text_message(user, "zzzz qqqq"))
    calls = await fake.wait_for_async(to(user.id, "sendMessage", "found nothing"), since=mark)
    text = calls[-1].params["text"]
    assert "“zzzz qqqq”" in text and "Radiohead - Creep" in text


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"available": False}, "will not give me this track"),
        ({"error": "not-found"}, "will not give me this track"),
        ({"preview_only": True}, "will not give me this track"),
    ],
)
async def test_an_unavailable_track_gets_its_message(
    bot: BotApplication,
    fake: FakeTelegram,
    ym: FakeYandex,
    tmp_path: Path,
    fields: dict[str, object],
    expected: str,
) -> None:
    user = FakeUser(5005, "Raya")
    await allow(bot, user)
    track_id = ym.add_track("Locked", "Somebody", new_track(tmp_path, 60), **fields)
    mark = fake.mark()
    fake.push_update(fake.text_message(user, f"music.yandex.ru/track/{track_id}"))
    await answer_to(fake, user, mark, expected)
    assert ym.downloads[track_id] == 0


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://music.yandex.com/artist/{artist}", "That is a link to an artist"),
        ("music.yandex.ru/chart", "That is a link to the chart"),
        ("https://music.yandex.ru/album/x1/track/y", "could not read this Yandex Music link"),
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "I understand Yandex Music links"),
    ],
)
async def test_links_the_chat_does_not_answer_get_their_message_and_fetch_nothing(
    bot: BotApplication, fake: FakeTelegram, ym: FakeYandex, link: str, expected: str
) -> None:
    user = FakeUser(5006, "Semyon")
    await allow(bot, user)
    yandex_calls, mark = len(ym.calls()), fake.mark()
    text = link.format(artist=ym.artist_id("Artist 0"))
    fake.push_update(fake.text_message(user, f"look: {text}"))
    await fake.wait_for_async(to(user.id, "sendMessage", expected), since=mark)
    assert len(ym.calls()) == yandex_calls


async def test_an_album_link_answers_with_tracks_like_its_tracks(
    bot: BotApplication, fake: FakeTelegram, ym: FakeYandex, tmp_path: Path
) -> None:
    user = FakeUser(5008, "Ulyana")
    await allow(bot, user)
    audio = [new_track(tmp_path, 80 + n) for n in range(2)]
    album_id, track_ids = ym.add_album("Double", "Album Band", audio)
    mark = fake.mark()
    fake.push_update(fake.text_message(user, f"https://music.yandex.ru/album/{album_id}"))
    text = (await answer_to(fake, user, mark, "Tracks like the album")).params["text"]
    assert "Tracks like the album: Album Band — Double" in text
    assert len(result_links(text)) == 10
    assert [ym.downloads[track_id] for track_id in track_ids] == [1, 1]
    assert not list(resources_of(bot).downloads.iterdir())


async def test_a_playlist_link_leaves_its_own_catalog_tracks_out(
    bot: BotApplication,
    fake: FakeTelegram,
    ym: FakeYandex,
    catalog_ids: dict[int, tuple[str, str]],
    tmp_path: Path,
) -> None:
    user = FakeUser(5009, "Fedor")
    await allow(bot, user)
    fresh = ym.add_track("Mixed In", "Playlist Band", new_track(tmp_path, 90))
    own = [catalog_ids[n][1] for n in (1, 2)]
    ym.add_user_playlist("listener", 7, [*own, fresh])
    mark = fake.mark()
    fake.push_update(fake.text_message(user, "music.yandex.ru/users/listener/playlists/7"))
    text = (await answer_to(fake, user, mark, "Tracks like the playlist")).params["text"]
    found = result_links(text)
    assert len(found) == 10 and not [url for url in found for t in own if url.endswith(f"/{t}")]
    assert ym.downloads[fresh] == 1 and [ym.downloads[t] for t in own] == [0, 0]


async def test_yandex_not_answering_gets_its_message(
    bot: BotApplication, fake: FakeTelegram, ym: FakeYandex
) -> None:
    user = FakeUser(5007, "Tanya")
    await allow(bot, user)
    ym.fail("tracks", 503, times=CHAT_YANDEX_ATTEMPTS)  # every try of the chat's one call
    mark = fake.mark()
    fake.push_update(fake.text_message(user, "https://music.yandex.ru/track/999999"))
    await answer_to(fake, user, mark, "Yandex Music is not answering")
    mark = fake.mark()
    fake.push_update(fake.text_message(user, "https://music.yandex.ru/track/999998"))
    await answer_to(fake, user, mark, "Yandex Music has no track at this link")


async def test_a_strangers_link_and_search_fetch_nothing(
    bot: BotApplication, fake: FakeTelegram, ym: FakeYandex, catalog_ids: dict[int, tuple[str, str]]
) -> None:
    stranger = FakeUser(5999, "Stranger")
    yandex_calls, mark = len(ym.calls()), fake.mark()
    fake.push_update(fake.text_message(stranger, "https://music.yandex.ru/track/123456"))
    fake.push_update(fake.text_message(stranger, "Artist 1 Song 1"))
    await fake.wait_for_async(to(stranger.id, "sendMessage", "this bot is private"), since=mark)
    assert len(ym.calls()) == yandex_calls
    assert not await resources_of(bot).database.queries.latest_for_user(stranger.id)
