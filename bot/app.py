"""The composition root: builds the python-telegram-bot Application and wires core and storage.

Resources (database, embedding workers with the recommender, the private download folder) are
opened in post_init and closed in post_shutdown, so `python -m bot` and the tests start and stop
the same way. Handler group -1 is the access gate; everything else sits behind it.
"""

import asyncio
import logging
import shutil
import tempfile
from pathlib import Path

from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, NetworkError, TelegramError
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

from bot import access, exploring, handlers, yandex_chat
from bot.config import BotSettings, ConfigError
from bot.context import BotApplication, BotContext, BotData, Resources
from catalog.embedders import make_embedder
from catalog.recommender import Recommender
from catalog.serving import adopt_previous_vectors, serving_model
from catalog.yandex.client import YandexMusic
from catalog.yandex.questions import YandexQuestions
from storage import Database

log = logging.getLogger(__name__)

RATE_LIMIT_RETRIES = 3  # 429 "retry after" answers are waited out this many times per call

COMMANDS = {
    "en": [
        BotCommand("top", "More results of your last list"),
        BotCommand("similar", "Tracks like result N: /similar N"),
        BotCommand("help", "How to ask: files, Yandex Music links, search"),
    ],
    "ru": [
        BotCommand("top", "Ещё результаты последнего списка"),
        BotCommand("similar", "Похожие на результат N: /similar N"),
        BotCommand("help", "Как спросить: файлы, ссылки на Яндекс Музыку, поиск"),
    ],
}
# the chat's Yandex calls: a person is waiting, so fewer and shorter tries than an import's
CHAT_YANDEX_TIMEOUT = 10.0
CHAT_YANDEX_ATTEMPTS = 3


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
        embedder = make_embedder(settings.backend, model, settings.workers)
        await embedder.start()
    except BaseException:
        await database.close()
        raise
    recommender = Recommender(database, embedder, model)
    tracks = await recommender.ranker.prepare()  # not on the first query
    downloads = fresh_downloads(settings.database_path)
    music = YandexMusic(
        settings.yandex.token,
        settings.yandex.api_url,
        timeout=CHAT_YANDEX_TIMEOUT,
        attempts=CHAT_YANDEX_ATTEMPTS,
    )
    questions = YandexQuestions(recommender, music, downloads, settings.max_file_mb << 20)
    application.bot_data.resources = Resources(
        settings, database, recommender, downloads, questions
    )
    for language, commands in COMMANDS.items():
        await application.bot.set_my_commands(commands, language_code=language)
    await application.bot.set_my_commands(COMMANDS["en"])
    log.info(
        "started model=%s workers=%s catalog=%d tracks adopted=%d admins=%d",
        embedder.model_id,
        embedder.describe(),
        tracks,
        adopted,
        len(settings.admin_ids),
    )


def fresh_downloads(database_path: Path) -> Path:
    """The private (0700) download folder, `<database file>.downloads` beside the database,
    emptied of the files a killed run left behind (a clean stop removes it).

    A stable place, unlike a fresh temp folder, is what lets the next start find the leftovers;
    named after the database file, it is this bot's alone. An in-memory database (tests) gets a
    fresh temp folder.
    """
    if str(database_path) == ":memory:":
        return Path(tempfile.mkdtemp(prefix="soundalike-"))
    folder = database_path.with_name(f"{database_path.name}.downloads")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700, parents=True)
    return folder


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
            CommandHandler("similar", exploring.similar_command),
            CommandHandler("allow", access.allow),
            CommandHandler("deny", access.deny),
            CommandHandler("users", access.list_users),
            # new messages only: editing a message's caption must not analyse it again
            MessageHandler(
                filters.UpdateType.MESSAGE
                & (
                    filters.AUDIO
                    | filters.VOICE
                    | filters.VIDEO
                    | filters.VIDEO_NOTE
                    | filters.ANIMATION
                    | filters.Document.ALL
                ),
                handlers.on_track,
            ),
            MessageHandler(
                filters.UpdateType.MESSAGE & filters.TEXT & ~filters.COMMAND, yandex_chat.on_text
            ),
            # more:QUERY:START; more:QUERY from lists sent before buttons named their page
            CallbackQueryHandler(handlers.on_more, pattern=r"^more:[0-9]+(:[0-9]+)?$"),
            CallbackQueryHandler(handlers.on_vote, pattern=r"^vote:[0-9]+:-?1$"),
            CallbackQueryHandler(exploring.on_similar, pattern=r"^sim:[0-9]+:[0-9]+$"),
            CallbackQueryHandler(exploring.on_artists_switch, pattern=r"^artists:[0-9]+:[01]$"),
            CallbackQueryHandler(
                yandex_chat.on_search_pick, pattern=r"^ym:[0-9]{1,12}(:[0-9]{1,12})?$"
            ),
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
        # A traceback logged with exc_info carries the exceptions' messages (PTB's InvalidToken
        # names the token): render it here, redacted; Formatter uses a set exc_text as is.
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self.token in record.exc_text:
            record.exc_text = record.exc_text.replace(self.token, "<token>")
        if record.stack_info and self.token in record.stack_info:
            record.stack_info = record.stack_info.replace(self.token, "<token>")
        return True


def configure_logging(token: str) -> None:
    """One line per event on stderr; HTTP client request logs (which hold the URL) hidden."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactToken(token))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def start_error(error: TelegramError, settings: BotSettings) -> ConfigError:
    """One line for a Bot API failure at start-up, naming the setting to fix, never the token.

    PTB turns both 401 and 404 from getMe into InvalidToken("The token `…` was rejected"); the
    answer's own description (its __cause__) tells them apart: "Unauthorized" is 401.
    """
    if isinstance(error, InvalidToken):
        if str(error.__cause__ or "").startswith("Unauthorized"):
            line = (
                "Telegram rejected the token (401 Unauthorized): BOT_TOKEN is wrong or was "
                "revoked; get the current one from @BotFather"
            )
        else:
            line = (
                f"no Bot API at TELEGRAM_API_URL (404 Not Found from {settings.api_url}): "
                "check the URL, or leave it unset for api.telegram.org"
            )
    elif isinstance(error, NetworkError):  # also TimedOut: nothing answered
        line = (
            f"cannot reach the Bot API at TELEGRAM_API_URL ({settings.api_url}): {error}; "
            "check the URL and the network"
        )
    else:
        line = f"the Bot API at {settings.api_url} failed at start-up: {error}"
    return ConfigError(line.replace(settings.bot_token, "<token>"))


def run(settings: BotSettings) -> None:
    """Long polling until SIGINT/SIGTERM, then a clean shutdown.

    The Application is initialised (getMe) here rather than inside run_polling, whose retry
    loop logs a rejected token with a traceback that names it; a Bot API failure at start-up
    becomes one ConfigError line. Resource errors (the database, the model) pass unchanged.
    """
    configure_logging(settings.bot_token)
    application = build_application(settings)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # run_polling takes this loop over and closes it
    ptb_log = logging.getLogger("telegram")
    level = ptb_log.level
    try:
        # Quiet while getMe runs: its failure is reported below in one line, and PTB would also
        # log e.g. a web page at TELEGRAM_API_URL ("Can not load invalid JSON") with a traceback.
        ptb_log.setLevel(logging.CRITICAL)
        try:
            loop.run_until_complete(application.initialize())
        except BaseException:
            loop.run_until_complete(application.bot.shutdown())  # close the HTTP clients
            loop.close()
            raise
        finally:
            ptb_log.setLevel(level)
        application.run_polling(allowed_updates=Update.ALL_TYPES)
    except TelegramError as error:
        raise start_error(error, settings) from None
