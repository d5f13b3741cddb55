"""`python -m bot` without a command: the Telegram bot, long polling until SIGINT/SIGTERM."""

import argparse
import logging

from bot.cli.common import EXIT_FAILURES
from bot.config import ConfigError, Settings, load_bot_settings
from core.errors import ModelFileError, NoWorkersError, RayUnavailableError
from storage import StorageError


def bot_command(_: argparse.Namespace, __: Settings) -> int:
    """Run the bot. Errors with a one-line message of ours go to main(); anything else is
    logged through the handler that redacts the token (a bare traceback could show it) and
    exits 1.
    """
    from bot.app import run

    try:
        run(load_bot_settings())
    except (ConfigError, ModelFileError, StorageError, RayUnavailableError, NoWorkersError):
        raise
    except Exception:
        logging.getLogger("bot").critical("the bot stopped on an unexpected error", exc_info=True)
        return EXIT_FAILURES
    return 0
