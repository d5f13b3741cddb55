"""What every command of the command line shares: exit statuses, the database a command opens,
the embedder it starts, the `--workers` option, the Yandex Music client and its token check,
the summary printed when a run stops early, and names shown on a terminal.

Errors a user can fix are one line on stderr with a non-zero exit status, never a traceback.
"""

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from bot.config import Settings, load_yandex_settings
from bot.numbers import number_argument
from catalog.links import display_name
from catalog.names import printable
from storage import Database, Track, writable

if TYPE_CHECKING:  # imported when a command runs: `--help` need not load them
    from catalog.yandex.client import YandexMusic
    from core.embedding_service import Embedder
    from core.models import ModelSpec

EXIT_FAILURES = 1  # the command ran, but some input could not be used
EXIT_USAGE = 2  # bad arguments, settings or files the command cannot start with
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM: what was done is saved

WORKERS_MAX = 64


def usage(message: str) -> int:
    """A usage error: one line on stderr, exit status 2."""
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def add_workers_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        type=number_argument(1, WORKERS_MAX),
        help=f"embedding processes, 1 to {WORKERS_MAX} (default: cores)",
    )


def open_database(settings: Settings, *, writes: bool) -> Database:
    """The database for a command; one that only reads opens read-only where it can't write.

    Only when the file or its folder is not writable (a read-only mount, a file shared
    read-only): elsewhere a reading command still creates a new file and migrates an old one,
    as it always has, and a read-only open would refuse both.
    """
    path = settings.database_path
    return Database(path, read_only=not writes and not writable(path))


def embedder(
    settings: Settings, workers: int | None = None, model: "ModelSpec | None" = None
) -> "Embedder":
    """The configured backend (local workers or Ray) for `model` (default: the configured one),
    with `workers` processes or actors (default: the WORKERS setting); not started yet."""
    from catalog.embedders import make_embedder

    return make_embedder(settings.backend, model or settings.model, workers or settings.workers)


def print_lines(lines: Iterable[str]) -> None:
    print("\n".join(lines))


def print_stopped(lines: Sequence[str], how: str = "interrupted") -> None:
    """A run's summary so far, and how to go on."""
    print_lines(lines)
    print(f"{how}: the tracks counted above are saved; rerun to continue")


@contextlib.contextmanager
def summary_when_interrupted(lines: Callable[[], Sequence[str]]) -> Iterator[None]:
    """On Ctrl-C or SIGTERM (the command's task cancelled), print the summary so far and how to
    go on; the cancellation goes on (exit status 130)."""
    try:
        yield
    except asyncio.CancelledError:
        print_stopped(lines())
        raise


def yandex_music(*, with_token: bool = True) -> "YandexMusic":
    """The Yandex Music client of YANDEX_MUSIC_TOKEN and YANDEX_MUSIC_API_URL."""
    from catalog.yandex.client import YandexMusic

    yandex = load_yandex_settings()
    return YandexMusic(yandex.token if with_token else None, yandex.api_url)


async def token_problem(music: "YandexMusic") -> int | None:
    """None when the Yandex Music token is accepted; else the exit status, after one line saying
    why (a missing or rejected token: 2; the service unreachable: 1). The token is never shown."""
    from catalog.yandex.client import YandexAccessError, YandexCallError

    try:
        await music.check_token()
    except YandexAccessError as error:
        return usage(str(error))
    except YandexCallError as error:
        print(f"error: cannot reach Yandex Music: {error.reason}", file=sys.stderr)
        return EXIT_FAILURES
    return None


def shown(track: Track) -> str:
    """`Artist — Title` for the terminal: a catalog may hold names from before they were
    cleaned on the way in, and ESC or U+202E must not reach the terminal as they are."""
    return printable(display_name(track))
