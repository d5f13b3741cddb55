"""The real Application in the test's event loop, as run_polling runs it, against the fake Bot API:
shared by the end-to-end bot tests."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fake_telegram import FakeTelegram, FakeUser
from telegram import Update

from bot.app import build_application
from bot.config import BotSettings
from bot.context import BotApplication, Resources
from core.models import parse_model_spec

ADMIN = FakeUser(1000, "Admin", "admin")


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
