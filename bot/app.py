"""The composition root: builds the python-telegram-bot Application and wires core and storage.

Resources (database, embedding workers with the recommender, the private download folder) are
opened in post_init and closed in post_shutdown, so `python -m bot` and the tests start and stop
the same way. Handler group -1 is the access gate; everything else sits behind it.
"""

import logging
import shutil
import tempfile
from pathlib import Path

from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import (
    AIORateLimiter,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import access, handlers
from bot.config import BotSettings
from bot.context import BotApplication, BotContext, BotData, Resources
from bot.recommender import Recommender, adopt_previous_vectors
from bot.reindex import serving_model
from core.embedding_service import EmbeddingService
from storage import Database

log = logging.getLogger(__name__)

RATE_LIMIT_RETRIES = 3  # 429 "retry after" answers are waited out this many times per call

COMMANDS = {
    "en": [BotCommand("top", "More results for your last track"), BotCommand("help", "Help")],
    "ru": [BotCommand("top", "Ещё результаты по последнему треку"), BotCommand("help", "Справка")],
}


async def open_resources(application: BotApplication) -> None:
    """post_init: database, admins, embedding workers, recommender, download folder."""
    settings = application.bot_data.settings
    assert settings is not None, "build_application stores the settings"
    database = await Database(settings.database_path).open()
    try:
        await database.users.ensure_admins(settings.admin_ids)
        adopted = await adopt_previous_vectors(database, settings.model)
        model, serving = await serving_model(database, settings.model)
        log.info("%s", serving)
        embedder = EmbeddingService(model, settings.workers)
        await embedder.start()
    except BaseException:
        await database.close()
        raise
    recommender = Recommender(database, embedder, model)
    downloads = Path(tempfile.mkdtemp(prefix="soundalike-"))  # mode 0700
    application.bot_data.resources = Resources(settings, database, recommender, downloads)
    for language, commands in COMMANDS.items():
        await application.bot.set_my_commands(commands, language_code=language)
    await application.bot.set_my_commands(COMMANDS["en"])
    log.info(
        "started model=%s workers=%d catalog=%d tracks adopted=%d admins=%d",
        embedder.model_id,
        embedder.workers,
        len(await recommender.catalog.get()),
        adopted,
        len(settings.admin_ids),
    )


async def close_resources(application: BotApplication) -> None:
    """post_shutdown: stop the workers, close the database, remove temp files."""
    resources, application.bot_data.resources = application.bot_data.resources, None
    if resources is None:
        return
    await resources.recommender.embedder.close()
    await resources.database.close()
    shutil.rmtree(resources.downloads, ignore_errors=True)
    log.info("stopped")


def build_application(settings: BotSettings) -> BotApplication:
    """The bot, ready for run_polling (or start/stop in tests)."""
    application = (
        ApplicationBuilder()
        .token(settings.bot_token)
        .base_url(f"{settings.api_url}/bot")
        .base_file_url(f"{settings.api_url}/file/bot")
        .local_mode(settings.local_mode)
        .context_types(ContextTypes(context=BotContext, bot_data=BotData))
        # every text is HTML (bot/texts.py); result lists hold many links, none worth a preview
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .rate_limiter(AIORateLimiter(max_retries=RATE_LIMIT_RETRIES))
        .concurrent_updates(True)  # many users at once; UserQueues keeps each user in order
        .post_init(open_resources)
        .post_shutdown(close_resources)
        .build()
    )
    application.bot_data.settings = settings
    application.add_handler(TypeHandler(Update, access.gate), group=-1)
    application.add_handlers(
        [
            CommandHandler(["start", "help"], handlers.help_command),
            CommandHandler("top", handlers.top_command),
            CommandHandler("allow", access.allow),
            CommandHandler("deny", access.deny),
            CommandHandler("users", access.list_users),
            # new messages only: editing a message's caption must not analyse it again
            MessageHandler(
                filters.UpdateType.MESSAGE & (filters.AUDIO | filters.VOICE | filters.Document.ALL),
                handlers.on_track,
            ),
            CallbackQueryHandler(handlers.on_more, pattern=r"^more:\d+$"),
            CallbackQueryHandler(handlers.on_vote, pattern=r"^vote:\d+:-?1$"),
            CallbackQueryHandler(handlers.on_stale_button),
            MessageHandler(filters.UpdateType.MESSAGE, handlers.on_other_message),
        ]
    )
    application.add_error_handler(handlers.on_error)
    return application


class RedactToken(logging.Filter):
    """Defence in depth: no log line, from any library, carries the bot token."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.token in message:
            record.msg, record.args = message.replace(self.token, "<token>"), None
        return True


def configure_logging(token: str) -> None:
    """One line per event on stderr; HTTP client request logs (which hold the URL) hidden."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactToken(token))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def run(settings: BotSettings) -> None:
    """Long polling until SIGINT/SIGTERM, then a clean shutdown."""
    configure_logging(settings.bot_token)
    build_application(settings).run_polling(allowed_updates=Update.ALL_TYPES)
