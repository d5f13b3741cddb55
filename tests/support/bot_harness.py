"""The real Application in the test's event loop, as run_polling runs it, against the fake Bot API:
shared by the end-to-end bot tests."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fake_telegram import Call, FakeTelegram, FakeUser
from telegram import Update

from bot.app import build_application
from bot.config import BotSettings, YandexSettings
from bot.context import BotApplication, Resources
from catalog.importer import Importer
from catalog.metadata import MetadataTable
from core.models import parse_model_spec

ADMIN = FakeUser(1000, "Admin", "admin")
CLOSED_PORT_URL = "http://127.0.0.1:9"  # the discard port: a connection is refused at once


def settings_for(fake: FakeTelegram, database: Path, **changes: object) -> BotSettings:
    """The bot's settings for `fake`, with ADMIN as the admin; `changes` override fields."""
    values: dict[str, object] = {
        "database_path": database,
        "model": parse_model_spec("msd-vgg/pool5"),
        "workers": 2,
        "bot_token": fake.token,
        "api_url": fake.base_url,
        "local_mode": False,
        "admin_ids": frozenset({ADMIN.id}),
        "max_file_mb": 20,
        # no Yandex Music unless a test brings its stand-in: nothing here reaches the internet
        "yandex": YandexSettings(None, CLOSED_PORT_URL),
    }
    return BotSettings(**{**values, **changes})  # type: ignore[arg-type]


@asynccontextmanager
async def running(settings: BotSettings) -> AsyncIterator[BotApplication]:
    """The Application's life as run_polling lives it, in this event loop."""
    application = build_application(settings)
    await application.initialize()
    await application.post_init(application)  # type: ignore[misc]
    await application.updater.start_polling(poll_interval=0, allowed_updates=Update.ALL_TYPES)
    await application.start()
    try:
        yield application
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()
        await application.post_shutdown(application)  # type: ignore[misc]


@asynccontextmanager
async def running_with_catalog(
    fake: FakeTelegram, database: Path, tracks: list[Path], meta: MetadataTable | None = None
) -> AsyncIterator[BotApplication]:
    """The bot running on `database`, with `tracks` imported through its own embedder first."""
    async with running(settings_for(fake, database)) as application:
        resources = resources_of(application)
        embedder = resources.recommender.embedder
        summary = await Importer(resources.database, embedder, meta).run(tracks)
        assert summary.added == len(tracks), summary.lines()
        yield application


def to(chat_id: int, method: str, fragment: str = "") -> Callable[[Call], bool]:
    """A successful `method` call to `chat_id` whose text holds `fragment`."""
    return lambda call: (
        call.ok
        and call.method == method
        and call.params.get("chat_id") == chat_id
        and fragment in str(call.params.get("text", ""))
    )


def resources_of(application: BotApplication) -> Resources:
    resources = application.bot_data.resources
    assert resources is not None, "post_init opened them"
    return resources


async def allow(application: BotApplication, *users: FakeUser) -> None:
    for user in users:
        await resources_of(application).database.users.allow(user.id, ADMIN.id)


async def send_track(
    fake: FakeTelegram, user: FakeUser, path: Path, file_id: str, kind: str = "audio"
) -> None:
    """The user sends `path` as an audio message, a voice note or a document."""
    content = path.read_bytes()
    fake.add_file(file_id, content)
    if kind == "voice":
        fake.push_update(fake.voice_message(user, file_id, len(content), duration=8))
    elif kind == "document":
        fake.push_update(fake.document_message(user, file_id, len(content), file_name=path.name))
    else:
        fake.push_update(fake.audio_message(user, file_id, len(content), file_name=path.name))
