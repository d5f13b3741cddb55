"""The command line: `python -m bot COMMAND ...`.

Each command opens what it needs (model, workers, database) once, does its work and closes it
again; errors a user can fix are printed as one line with a non-zero exit status, never a
traceback. Settings (DATABASE_PATH, MODEL, WORKERS) come from the environment or `.env`.
"""

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli.evaluate import add_eval_parser
from bot.cli.yandex import add_yandex_parsers
from bot.config import (
    ConfigError,
    Settings,
    load_bot_settings,
    load_settings,
    load_yandex_settings,
)
from bot.numbers import TELEGRAM_ID_MAX, number_argument
from catalog.links import display_name, track_url
from catalog.metadata import MetadataFileError, read_metadata_csv
from catalog.names import printable
from catalog.numbers import SQLITE_INT_MAX
from core.errors import AudioError, ModelFileError, NoWorkersError, RayUnavailableError
from core.models import parse_model_spec
from storage import Database, StorageError, Track, writable

if TYPE_CHECKING:  # imported when a command runs: `--help` need not load them
    from catalog.recommender import Answer, Recommendation, Recommender

EXIT_FAILURES = 1  # the command ran, but some input could not be used
EXIT_USAGE = 2  # bad arguments, settings or files the command cannot start with
EXIT_INTERRUPTED = 130

TOP_MAX = 100  # the stored ranking keeps 100 tracks (catalog.recommender.RESULTS_KEPT)
WORKERS_MAX = 64


def open_database(settings: Settings, *, writes: bool) -> Database:
    """The database for a command; one that only reads opens read-only where it can't write.

    Only when the file or its folder is not writable (a read-only mount, a file shared
    read-only): elsewhere a reading command still creates a new file and migrates an old one,
    as it always has, and a read-only open would refuse both.
    """
    path = settings.database_path
    return Database(path, read_only=not writes and not writable(path))


def shown(track: Track) -> str:
    """`Artist — Title` for the terminal: a catalog may hold names from before they were
    cleaned on the way in, and ESC or U+202E must not reach the terminal as they are."""
    return printable(display_name(track))


def format_tags(tags: Sequence[tuple[str, float]]) -> str:
    """`rock 0.61 · indie 0.40 · guitar 0.22`."""
    return " · ".join(f"{name} {probability:.2f}" for name, probability in tags)


def embed_command(arguments: argparse.Namespace, settings: Settings) -> int:
    """Print each file's top tags and timing; the model loads once for all files."""
    from core.embedding import embed_file, warm_up

    started = time.perf_counter()
    spec = parse_model_spec(arguments.model) if arguments.model else settings.model
    model = spec.load()
    warm_up(model)
    print(f"model {model.model_id} loaded in {time.perf_counter() - started:.1f} s", flush=True)
    failures = 0
    for path in arguments.files:
        started = time.perf_counter()
        try:
            embedding = embed_file(path, model)
        except AudioError as error:
            failures += 1
            print(f"{path}\terror: {error.reason}", flush=True)
            continue
        seconds = time.perf_counter() - started
        tags = format_tags(embedding.top_tags(arguments.tags)) or f"{model.embedding_dim}-d vector"
        print(f"{path}\t{tags}\t{seconds:.2f} s", flush=True)
    return EXIT_FAILURES if failures else 0


async def import_command(arguments: argparse.Namespace, settings: Settings) -> int:
    """Index files and folders into the catalog, with a progress bar and a final summary."""
    from bot.embedders import describe, make_embedder
    from catalog.importer import Importer
    from catalog.recommender import adopt_previous_vectors

    table = read_metadata_csv(arguments.meta) if arguments.meta else None
    for problem in table.problems if table else []:
        print(f"{arguments.meta}: {problem}", file=sys.stderr)
    workers = arguments.workers or settings.workers
    async with (
        open_database(settings, writes=True) as database,
        make_embedder(settings, settings.model, workers) as service,
    ):
        await adopt_previous_vectors(database, settings.model)
        print(
            f"importing into {settings.database_path} with {service.model_id}, {describe(service)}",
            file=sys.stderr,
        )
        importer = Importer(database, service, table)
        try:
            summary = await importer.run(arguments.paths)
        except asyncio.CancelledError:
            print("\n".join(importer.summary.lines()))
            print("interrupted: the tracks counted above are saved; rerun to continue")
            raise
    print("\n".join(summary.lines()))
    return EXIT_FAILURES if summary.failures else 0


async def reindex_command(arguments: argparse.Namespace, settings: Settings) -> int:
    """Embed every catalog track that lacks the configured model's vector (resumable)."""
    from bot.embedders import describe, make_embedder
    from catalog.recommender import adopt_previous_vectors
    from catalog.reindex import Reindexer
    from catalog.yandex.client import YandexAccessError, YandexCallError, YandexMusic
    from catalog.yandex.importer import download_folder

    yandex = load_yandex_settings()
    music = YandexMusic(yandex.token, yandex.api_url) if yandex.token else None
    # Yandex Music tracks fetched again, each deleted once embedded; a killed run's leftovers
    # are removed by the next run (import-yandex's private folder beside the database)
    with download_folder(settings.database_path) as downloads:
        async with Database(settings.database_path) as database:
            await adopt_previous_vectors(database, settings.model)
            reindexer = Reindexer(database, settings.model.model_id, music, downloads)
            tracks = await reindexer.missing()
            if music is not None and any(t.yandex_track_id for t in tracks):
                try:  # a bad token stops here, not once per track
                    await music.check_token()
                except YandexAccessError as error:
                    print(f"error: {error}", file=sys.stderr)
                    return 2
                except YandexCallError as error:
                    print(f"error: cannot reach Yandex Music: {error.reason}", file=sys.stderr)
                    return EXIT_FAILURES
            workers = arguments.workers or settings.workers
            if tracks:  # the workers start only when there is something to embed
                async with make_embedder(settings, settings.model, workers) as s:
                    print(
                        f"reindexing {len(tracks)} track(s) of {settings.database_path} with "
                        f"{s.model_id}, {describe(s)}",
                        file=sys.stderr,
                    )
                    try:
                        await reindexer.run(tracks, s)
                    except asyncio.CancelledError:
                        print("\n".join(map(printable, reindexer.summary.lines())))
                        print("interrupted: the tracks counted above are saved; rerun to continue")
                        raise
    summary = reindexer.summary
    print("\n".join(map(printable, summary.lines())))
    return EXIT_FAILURES if summary.failures else 0


def track_json(track: Track) -> dict[str, object]:
    return {
        "track_id": track.id,
        "artist": track.artist,
        "title": track.title,
        "url": track_url(track),
    }


async def recommend_command(arguments: argparse.Namespace, settings: Settings) -> int:
    """The ranked list the bot would send for FILE, printed (or as JSON)."""
    from bot.embedders import make_embedder
    from catalog.recommender import Recommender, adopt_previous_vectors
    from catalog.reindex import serving_model

    async with open_database(settings, writes=False) as database:
        if not database.read_only:  # adopting renames vectors: a write
            await adopt_previous_vectors(database, settings.model)
        # the model the bot answers with, so that both give the same list
        model, serving = await serving_model(database, settings.model)
        if model != settings.model:
            print(serving, file=sys.stderr)
        async with make_embedder(settings, model, workers=1) as service:
            answer, items = await _recommend(Recommender(database, service, model), arguments)
    if answer is None:
        return EXIT_FAILURES
    return _print_recommendations(arguments, answer, items)


async def _recommend(
    recommender: "Recommender", arguments: argparse.Namespace
) -> tuple["Answer | None", list["Recommendation"]]:
    """The answer and its first page, or (None, []) after saying why there is none."""
    from catalog.recommender import EmptyCatalogError

    try:
        answer = await recommender.answer(arguments.file)
    except AudioError as error:
        print(f"{arguments.file}: {error.reason}", file=sys.stderr)
        return None, []
    except EmptyCatalogError as error:
        print(f"{error}; add some with: python -m bot import FOLDER", file=sys.stderr)
        return None, []
    return answer, await recommender.page(answer.track_ids, answer.scores, 0, arguments.top)


def _print_recommendations(
    arguments: argparse.Namespace, answer: "Answer", items: list["Recommendation"]
) -> int:
    """The list as text lines, or as JSON with --json."""
    tags = answer.embedding.top_tags(3)
    own = answer.in_catalog
    if arguments.json:
        document = {
            "file": str(arguments.file),
            "model": answer.embedding.model_id,
            "seconds": round(answer.seconds, 3),
            "tags": dict(tags),
            "in_catalog": track_json(own) if own else None,
            "results": [
                {
                    "rank": item.position,
                    **track_json(item.track),
                    "similarity": round(item.similarity, 4),
                }
                for item in items
            ],
        }
        # still JSON, and the same names once parsed: printable escapes as JSON does
        for line in json.dumps(document, ensure_ascii=False, indent=2).split("\n"):
            print(printable(line))
        return 0
    print(f"{arguments.file}: {format_tags(tags)} ({answer.seconds:.2f} s)")
    if own:
        print(f"already in the catalog: {shown(own)} (#{own.id})  {track_url(own)}")
    for item in items:
        print(f"{item.position:3d}. {shown(item.track)}  {item.percent}%  {item.url}")
    return 0


async def catalog_command(arguments: argparse.Namespace, settings: Settings) -> int:
    """`catalog list`, `catalog stats`, `catalog remove ID`."""
    async with open_database(settings, writes=arguments.action == "remove") as database:
        if arguments.action == "list":
            for track in await database.tracks.list(arguments.limit, arguments.offset):
                minutes, seconds = divmod(round(track.duration or 0), 60)
                print(f"{track.id:6d}  {shown(track)}  {minutes}:{seconds:02d}  {track_url(track)}")
            return 0
        if arguments.action == "stats":
            stats = await database.tracks.stats()
            print(f"tracks: {stats.tracks}")
            hours, minutes = divmod(round(stats.total_duration / 60), 60)
            print(f"total duration: {hours} h {minutes:02d} min")
            print(f"with a Yandex Music id: {stats.with_yandex_id}")
            for model_id, count in sorted(stats.embeddings.items()):
                print(f"vectors of {model_id}: {count}")
            for model_id, tally in (await database.feedback.tally_by_model()).items():
                print(f"feedback on {model_id} answers: 👍 {tally.up} · 👎 {tally.down}")
            if stats.last_added_at:
                print(f"last added: {stats.last_added_at:%Y-%m-%d %H:%M}")
            return 0
        removed = await database.tracks.get(arguments.id)
        if removed is None or not await database.tracks.remove(arguments.id):
            print(f"no track with id {arguments.id}", file=sys.stderr)
            return EXIT_FAILURES
        print(f"removed {removed.id}: {shown(removed)}")
        return 0


def bot_command(_: argparse.Namespace, __: Settings) -> int:
    """`python -m bot`: the Telegram bot, long polling until SIGINT/SIGTERM.

    Errors with a one-line message of ours go to main(); anything else is logged through the
    handler that redacts the token (a bare traceback could show it) and exits 1.
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


async def users_command(arguments: argparse.Namespace, settings: Settings) -> int:
    """`users allow ID`, `users deny ID`, `users list`: the whitelist, from the terminal."""
    async with open_database(settings, writes=arguments.action != "list") as database:
        if arguments.action == "allow":
            await database.users.allow(arguments.id, None)
            print(f"allowed {arguments.id}")
        elif arguments.action == "deny":
            if not await database.users.deny(arguments.id):
                print(
                    f"{arguments.id} was not on the whitelist (admins are set by ADMIN_IDS)",
                    file=sys.stderr,
                )
                return EXIT_FAILURES
            print(f"denied {arguments.id}")
        else:
            for user in await database.users.list():
                added = f"added {user.added_at:%Y-%m-%d}" + (
                    f" by {user.added_by}" if user.added_by else ""
                )
                name = f"@{user.username}" if user.username else "-"
                print(f"{user.telegram_id}\t{name}\t{user.role.value}\t{added}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="Soundalike: find music that sounds like a track. "
        "Without a command, runs the Telegram bot (BOT_TOKEN and the other settings come from "
        "the environment or .env).",
    )
    parser.set_defaults(handler=bot_command)
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also show TensorFlow's start-up and log messages (hidden by default)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    embed = commands.add_parser("embed", help="print the top tags of audio files, with timings")
    embed.add_argument("files", nargs="+", type=Path, metavar="FILE")
    embed.add_argument("--model", help="model spec (default: MODEL setting, else msd-vgg/pool5)")
    embed.add_argument(
        "--tags", type=number_argument(0, 50), default=3, help="how many tags to show (default 3)"
    )
    embed.set_defaults(handler=embed_command)

    index = commands.add_parser("import", help="index audio files and folders into the catalog")
    index.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    index.add_argument(
        "--meta",
        type=Path,
        metavar="FILE.csv",
        help="CSV: file,title,artist,album,yandex_track_id,yandex_album_id",
    )
    index.add_argument(
        "--workers",
        type=number_argument(1, WORKERS_MAX),
        help=f"embedding processes, 1 to {WORKERS_MAX} (default: cores)",
    )
    index.set_defaults(handler=import_command)

    reindex = commands.add_parser(
        "reindex", help="embed every catalog track with the configured model (resumable)"
    )
    reindex.add_argument("--workers", type=int, help="embedding processes (default: cores)")
    reindex.set_defaults(handler=reindex_command)

    similar = commands.add_parser("recommend", help="print the catalog tracks most like FILE")
    similar.add_argument("file", type=Path, metavar="FILE")
    similar.add_argument(
        "--top",
        type=number_argument(1, TOP_MAX),
        default=10,
        help=f"how many, 1 to {TOP_MAX} (default 10)",
    )
    similar.add_argument("--json", action="store_true", help="print JSON")
    similar.set_defaults(handler=recommend_command)

    catalog = commands.add_parser("catalog", help="list, count or remove catalog tracks")
    actions = catalog.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="tracks in import order")
    listing.add_argument("--limit", type=number_argument(0, SQLITE_INT_MAX), default=50)
    listing.add_argument("--offset", type=number_argument(0, SQLITE_INT_MAX), default=0)
    actions.add_parser("stats", help="counts per model, total duration")
    remove = actions.add_parser("remove", help="remove a track and its vectors")
    remove.add_argument("id", type=number_argument(1, SQLITE_INT_MAX), metavar="ID")
    catalog.set_defaults(handler=catalog_command)

    users = commands.add_parser("users", help="manage the whitelist: allow ID, deny ID, list")
    user_actions = users.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, text in (("allow", "let a Telegram user in"), ("deny", "revoke their access")):
        user_actions.add_parser(action, help=text).add_argument(
            "id", type=number_argument(1, TELEGRAM_ID_MAX), metavar="ID"
        )
    user_actions.add_parser("list", help="whitelisted users, admins first")
    users.set_defaults(handler=users_command)

    add_eval_parser(commands)
    add_yandex_parsers(commands)
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
