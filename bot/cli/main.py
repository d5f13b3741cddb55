"""The command line: `python -m bot [COMMAND ...]`; this module only assembles it.

Each command group is a module of this package that registers its own sub-parser (`register`)
with its handler: embed, import, reindex, recommend, catalog, users, eval, import-yandex,
link-yandex; without a command, the Telegram bot runs (run_bot). Each command opens what it
needs (model, workers, database) once, does its work and closes it again; errors a user can fix
are printed as one line with a non-zero exit status, never a traceback (bot/cli/common.py).
Settings (DATABASE_PATH, MODEL, WORKERS) come from the environment or `.env`.
"""

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from bot.cli import (
    catalog,
    embed,
    evaluate,
    import_files,
    import_yandex,
    link_yandex,
    recommend,
    reindex,
    run_bot,
    users,
)
from bot.cli.common import EXIT_FAILURES, EXIT_INTERRUPTED, EXIT_USAGE
from bot.config import ConfigError, Settings, load_settings
from catalog.metadata import MetadataFileError
from core.errors import ModelFileError, NoWorkersError, RayUnavailableError
from storage import StorageError

# in the order `--help` lists them
COMMANDS = (embed, import_files, reindex, recommend, catalog, users, evaluate, import_yandex,
            link_yandex)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Soundalike: find music that sounds like a track. "
        "Without a command, runs the Telegram bot (BOT_TOKEN and the other settings come from "
        "the environment or .env).",
    )
    parser.set_defaults(handler=run_bot.bot_command)
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also show TensorFlow's start-up and log messages (hidden by default)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(commands)
    return parser


def _run_async(
    handler: Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]],
    arguments: argparse.Namespace,
    settings: Settings,
) -> int:
    """Run an async command; SIGTERM cancels it like Ctrl-C, so it can close cleanly."""

    async def guarded() -> int:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await handler(arguments, settings)

    try:
        return asyncio.run(guarded())
    except asyncio.CancelledError:
        return EXIT_INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    if arguments.verbose:  # read by core.models.runtime, here and in the spawned workers
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
    try:
        settings = load_settings()
        if asyncio.iscoroutinefunction(arguments.handler):
            return _run_async(arguments.handler, arguments, settings)
        return int(arguments.handler(arguments, settings))
    except (
        ConfigError,
        ModelFileError,
        MetadataFileError,
        StorageError,
        ValueError,
        RayUnavailableError,
    ) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except NoWorkersError as error:  # a Ray cluster without room for a worker
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILURES
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
