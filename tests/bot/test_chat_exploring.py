"""Going on from a result (🔁 N, /similar N), the "other artists" switch (across a restart),
videos, and a bot without a Yandex Music token: the real Application against the fake Bot API,
real audio, workers and SQLite."""

import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import pytest_asyncio
from audio_factory import encode, make_library, style_for, synth_music
from bot_harness import allow, resources_of, running, settings_for, to
from fake_telegram import Call, FakeTelegram, FakeUser
from fake_yandex import FakeYandex

from bot.config import BotSettings, YandexSettings
from bot.context import BotApplication
from catalog.importer import Importer
from catalog.metadata import MetadataTable, TrackMetadata

pytestmark = pytest.mark.asyncio(loop_scope="module")

# (artist, title) of the catalog: Alpha is asked about; Gamma has more than the cap; Beta's
# two tracks are one song; the Deltas are all different
CATALOG = (
    [("Alpha", f"Alpha Song {n}") for n in range(4)]
    + [("Gamma", f"Gamma Song {n}") for n in range(4)]
    + [("Beta", "Same Song"), ("Beta", "Same Song (Remastered)")]
    + [(f"Delta {n}", f"Delta Song {n}") for n in range(4)]
)
ASKED = 0  # Alpha Song 0: its Yandex ids are 900 (album 90)


class Bot:
    """The running bot, which a test can restart on the same database."""

    def __init__(self, settings: BotSettings) -> None:
        self.settings = settings
        self._stack = AsyncExitStack()
        self.app: BotApplication | None = None

    async def start(self) -> BotApplication:
        self.app = await self._stack.enter_async_context(running(self.settings))
        return self.app

    async def restart(self) -> BotApplication:
        await self.stop()
        self._stack = AsyncExitStack()
        return await self.start()

    async def stop(self) -> None:
        await self._stack.aclose()


@pytest.fixture(scope="module")
def ym(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeYandex]:
    with FakeYandex(tmp_path_factory.mktemp("yandex")) as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(
    fake: FakeTelegram, ym: FakeYandex, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Bot]:
    """A bot without a Yandex Music token, over CATALOG."""
    library = make_library(tmp_path_factory.mktemp("library"), len(CATALOG), seconds=10.0)
    rows = {
        path.resolve(): TrackMetadata(
            title=title,
            artist=artist,
            yandex_track_id=str(900 + i),
            yandex_album_id=str(90 + i),
        )
        for i, (path, (artist, title)) in enumerate(zip(library, CATALOG, strict=True))
    }
    database = tmp_path_factory.mktemp("db") / "bot.sqlite3"
    running_bot = Bot(settings_for(fake, database, yandex=YandexSettings(None, ym.api_url)))
    application = await running_bot.start()
    resources = resources_of(application)
    summary = await Importer(
        resources.database, resources.recommender.embedder, MetadataTable(rows, [])
    ).run(library)
    assert summary.added == len(CATALOG), summary.lines()
    yield running_bot
    await running_bot.stop()


def app_of(bot: Bot) -> BotApplication:
    assert bot.app is not None
    return bot.app


async def edited(fake: FakeTelegram, user: FakeUser, since: int, fragment: str) -> Call:
    calls = await fake.wait_for_async(
        to(user.id, "editMessageText", fragment), since=since, timeout=120
    )
    return calls[-1]


def lines(text: str) -> list[tuple[int, str]]:
    """(number, "Artist — Title") of each result line."""
    return [
        (int(n), name)
        for n, name in re.findall(r"^(\d+)\. <a href=\"[^\"]+\">([^<]+)</a>", text, re.M)
    ]


def button(call: Call, label: str) -> dict[str, str]:
    keyboard = call.params["reply_markup"]["inline_keyboard"]
    return next(b for row in keyboard for b in row if b["text"] == label)


async def ask_about_alpha(fake: FakeTelegram, user: FakeUser) -> Call:
    mark = fake.mark()
    fake.push_update(fake.text_message(user, "https://music.yandex.ru/album/90/track/900"))
    return await edited(fake, user, mark, "Sounds like Alpha — Alpha Song 0")


async def test_without_a_token_a_catalog_link_answers_and_a_new_track_is_explained(
    bot: Bot, fake: FakeTelegram, ym: FakeYandex, tmp_path: Path
) -> None:
    user = FakeUser(6001, "Nina")
    await allow(app_of(bot), user)
    answer = await ask_about_alpha(fake, user)
    assert len(lines(answer.params["text"])) == 10

    audio = encode(synth_music(8.0, seed=70, **style_for(70)), tmp_path / "n.mp3").read_bytes()
    track_id = ym.add_track("Brand New", "Someone", audio)
    yandex_calls, mark = len(ym.calls()), fake.mark()
    fake.push_update(fake.text_message(user, f"https://music.yandex.ru/track/{track_id}"))
    await edited(fake, user, mark, "not set up to download from Yandex Music")
    assert len(ym.calls()) == yandex_calls and ym.downloads[track_id] == 0

    album_id, _ = ym.add_album("All New", "Someone", [audio])  # none of it in the catalog
    mark = fake.mark()
    fake.push_update(fake.text_message(user, f"https://music.yandex.ru/album/{album_id}"))
    await edited(fake, user, mark, "not set up to download from Yandex Music")
    assert not ym.downloads


async def test_similar_n_answers_from_the_stored_vector_and_leaves_its_track_out(
    bot: Bot, fake: FakeTelegram
) -> None:
    user = FakeUser(6002, "Oleg")
    await allow(app_of(bot), user)
    first = lines((await ask_about_alpha(fake, user)).params["text"])
    third = first[2][1]

    mark = fake.mark()
    fake.push_update(fake.text_message(user, "/similar 3"))
    answer = await edited(fake, user, mark, f"Tracks like: {third}")
    shown = [name for _, name in lines(answer.params["text"])]
    assert len(shown) == 10 and third not in shown
    assert not [c for c in fake.calls()[mark:] if c.method == "getFile"]
    query = await resources_of(app_of(bot)).database.queries.latest_for_user(user.id)
    assert query is not None and query.sent.kind == "similar" and query.sent.file_name == third
    assert query.sent.track_id not in query.track_ids.tolist()

    # the 🔁 buttons of that list: tracks like its 2nd result
    second = lines(answer.params["text"])[1][1]
    mark = fake.mark()
    pressed = button(answer, "🔁 2")["callback_data"]
    fake.push_update(fake.callback_query(user, answer.params["message_id"], pressed))
    await edited(fake, user, mark, f"Tracks like: {second}")

    for wrong, reply in (("/similar", "Use /similar N"), ("/similar 99", "has no result 99")):
        mark = fake.mark()
        fake.push_update(fake.text_message(user, wrong))
        await fake.wait_for_async(to(user.id, "sendMessage", reply), since=mark)


async def test_the_other_artists_switch_filters_pages_and_survives_a_restart(
    bot: Bot, fake: FakeTelegram
) -> None:
    user = FakeUser(6003, "Pavel")
    await allow(app_of(bot), user)
    answer = await ask_about_alpha(fake, user)
    assert len(lines(answer.params["text"])) == 10  # the default: plain similarity
    switch = button(answer, "👥 Other artists: off")["callback_data"]

    mark = fake.mark()
    fake.push_update(fake.callback_query(user, answer.params["message_id"], switch))
    again = (
        await fake.wait_for_async(to(user.id, "sendMessage", "Other artists only"), since=mark)
    )[-1]
    toast = await fake.wait_for_async("answerCallbackQuery", since=mark)
    assert "Other artists only: on" in toast[-1].params["text"]
    shown = lines(again.params["text"])
    names = [name for _, name in shown]
    # 13 others: no Alpha, Gamma twice, Beta's song once → 7, numbered from 1, on one page
    assert [n for n, _ in shown] == list(range(1, 8))
    assert not [n for n in names if n.startswith("Alpha")]
    assert len([n for n in names if n.startswith("Gamma")]) == 2
    assert len([n for n in names if n.startswith("Beta")]) == 1
    assert button(again, "👥 Other artists: on")
    assert "More ▸" not in str(again.params["reply_markup"])
    database = resources_of(app_of(bot)).database
    assert await database.users.other_artists(user.id)

    await bot.restart()  # the switch is kept in SQLite
    await allow(app_of(bot), user)
    answer = await ask_about_alpha(fake, user)
    assert "Other artists only" in answer.params["text"]
    assert [name for _, name in lines(answer.params["text"])] == names
    mark = fake.mark()
    fake.push_update(fake.text_message(user, "/top 50"))  # paging follows the switch
    top = await fake.wait_for_async(to(user.id, "sendMessage", "1. "), since=mark)
    assert [name for _, name in lines(top[-1].params["text"])] == names

    mark = fake.mark()  # and off again: the plain list, with More
    switch = button(answer, "👥 Other artists: on")["callback_data"]
    fake.push_update(fake.callback_query(user, answer.params["message_id"], switch))
    plain = await fake.wait_for_async(to(user.id, "sendMessage", "Sounds like"), since=mark)
    assert len(lines(plain[-1].params["text"])) == 10 and button(plain[-1], "More ▸")
    assert not await resources_of(app_of(bot)).database.users.other_artists(user.id)


async def test_an_uploaded_files_artist_comes_from_its_name_when_nothing_else_says(
    bot: Bot, fake: FakeTelegram, tmp_path: Path
) -> None:
    """No performer declared, no tags: "Alpha - …" in the file name is whose track it is."""
    user = FakeUser(6005, "Sergei")
    await allow(app_of(bot), user)
    database = resources_of(app_of(bot)).database
    await database.users.set_other_artists(user.id, True)
    path = encode(synth_music(10.0, seed=77, **style_for(77)), tmp_path / "Alpha - Demo.mp3")
    fake.add_file("alpha-demo", path.read_bytes())
    mark = fake.mark()
    message = fake.document_message(user, "alpha-demo", path.stat().st_size, file_name=path.name)
    fake.push_update(message)
    answer = await edited(fake, user, mark, "Other artists only")
    names = [name for _, name in lines(answer.params["text"])]
    assert names and not [name for name in names if name.startswith("Alpha")]
    query = await database.queries.latest_for_user(user.id)
    assert query is not None and query.sent.artist == "Alpha" and query.sent.track_id is None


def video(path: Path, *, sound: bool) -> Path:
    """A tiny mp4: a coloured square for 10 s, with music (or no audio stream at all)."""
    inputs = ["-f", "lavfi", "-i", "color=c=blue:s=64x64:d=10"]
    codecs = ["-c:v", "libx264", "-pix_fmt", "yuv420p"]
    if sound:
        music = encode(synth_music(10.0, seed=5, **style_for(5)), path.with_suffix(".wav"))
        inputs += ["-i", str(music)]
        codecs += ["-c:a", "aac", "-shortest"]
    command = ["ffmpeg", "-nostdin", "-v", "error", "-y", *inputs, *codecs, str(path)]
    subprocess.run(command, check=True)
    return path


@pytest.mark.parametrize("kind", ["video", "video_note", "animation", "document"])
async def test_a_video_is_heard_through_its_sound_and_a_silent_one_is_told_so(
    bot: Bot, fake: FakeTelegram, tmp_path: Path, kind: str
) -> None:
    user = FakeUser(6004, "Rita")
    await allow(app_of(bot), user)
    for sound, expected in ((True, "Sounds like"), (False, "This video has no sound")):
        content = video(tmp_path / f"{kind}-{sound}.mp4", sound=sound).read_bytes()
        file_id = f"{kind}-{sound}"
        fake.add_file(file_id, content)
        mark = fake.mark()
        if kind == "document":  # a video sent as a file
            message = fake.document_message(user, file_id, len(content), "video/mp4", "v.mp4")
        else:
            message = fake.video_message(user, file_id, len(content), kind=kind)
        fake.push_update(message)
        reply = await edited(fake, user, mark, expected)
        if sound:
            assert len(lines(reply.params["text"])) == 10
        assert fake.downloads(file_id) == 1
    assert not list(resources_of(app_of(bot)).downloads.iterdir())


async def test_a_stranger_cannot_explore(bot: Bot, fake: FakeTelegram) -> None:
    stranger = FakeUser(6999, "Stranger")
    mark = fake.mark()
    fake.push_update(fake.text_message(stranger, "/similar 1"))
    await fake.wait_for_async(to(stranger.id, "sendMessage", "this bot is private"), since=mark)
    database = resources_of(app_of(bot)).database
    assert await database.queries.latest_for_user(stranger.id) is None
