"""`python -m bot import-yandex LINK...` and `python -m bot link-yandex`: the command-line glue.

Usage errors (a malformed link, no token, a rejected token) are one line on stderr and exit
status 2, found before anything is downloaded or any worker started. The token is never printed:
messages name the setting, not its value.
"""

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from bot.config import Settings, load_yandex_settings
from catalog.names import printable
from catalog.yandex.client import YandexAccessError, YandexCallError, YandexMusic
from catalog.yandex.links import LINK_FORMS, LikedTracks, LinkError, Target, parse_links
from storage import Database

EXIT_FAILURES = 1
EXIT_USAGE = 2
DOWNLOADS_AT_ONCE = 3  # polite to the service, and enough to keep the workers fed


def _usage(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _targets(arguments: argparse.Namespace) -> list[Target]:
    targets = parse_links(arguments.links)
    if arguments.liked:
        targets.append(LikedTracks())
    return targets


async def import_yandex_command(arguments: argparse.Namespace, settings: Settings) -> int:
    """Index albums, playlists, artists, the chart and likes from Yandex Music."""
    from bot.embedders import describe, make_embedder, uses_ray
    from catalog.yandex.importer import YandexImport, download_folder

    try:
        targets = _targets(arguments)
    except LinkError as error:
        return _usage(f"{error}\nunderstood links: {', '.join(LINK_FORMS)}")
    if not targets:
        return _usage("give at least one Yandex Music link, or --liked")
    if arguments.limit is not None and arguments.limit < 1:
        return _usage("--limit must be at least 1")
    if arguments.keep is not None and uses_ray(settings):
        return _usage(
            "--keep needs the local workers: on Ray (RAY_ADDRESS) the workers download the "
            "audio themselves and keep none; unset RAY_ADDRESS to keep the mp3s"
        )
    yandex = load_yandex_settings()
    music = YandexMusic(yandex.token, yandex.api_url, downloads=DOWNLOADS_AT_ONCE)
    try:
        await music.check_token()
    except YandexAccessError as error:
        return _usage(str(error))
    except YandexCallError as error:
        print(f"error: cannot reach Yandex Music: {error.reason}", file=sys.stderr)
        return EXIT_FAILURES
    keep: Path | None = arguments.keep
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    workers = arguments.workers or settings.workers
    async with (
        Database(settings.database_path) as database,
        make_embedder(settings, settings.model, workers) as service,
    ):
        with download_folder(settings.database_path) as folder:
            job = YandexImport(
                database, service, music, folder, keep=keep, downloads=DOWNLOADS_AT_ONCE
            )
            try:
                tracks = await job.collect(
                    targets, all_artist_tracks=arguments.all, limit=arguments.limit
                )
                print(
                    f"importing {len(tracks)} track(s) from Yandex Music into "
                    f"{settings.database_path} with {service.model_id}, "
                    f"{describe(service)}",
                    file=sys.stderr,
                )
                summary = await job.run(tracks)
            except asyncio.CancelledError:
                print("\n".join(job.summary.lines()))
                print("interrupted: the tracks counted above are saved; rerun to continue")
                raise
            except YandexAccessError as error:  # the token was revoked during the run
                print("\n".join(job.summary.lines()))
                print("stopped: the tracks counted above are saved; rerun to continue")
                return _usage(str(error))
    print("\n".join(summary.lines()))
    return EXIT_FAILURES if summary.failures else 0


async def link_yandex_command(arguments: argparse.Namespace, settings: Settings) -> int:
    """Attach Yandex Music ids to catalog tracks that have none, on confident matches only."""
    from catalog.yandex.matching import link_catalog

    yandex = load_yandex_settings()
    music = YandexMusic(yandex.token, yandex.api_url)
    try:
        if music.has_token:  # search works without one; a bad one should stop us early
            await music.check_token()
    except YandexAccessError as error:
        return _usage(str(error))
    except YandexCallError as error:
        print(f"error: cannot reach Yandex Music: {error.reason}", file=sys.stderr)
        return EXIT_FAILURES
    async with Database(settings.database_path) as database:
        report = await link_catalog(database, music, dry_run=arguments.dry_run)
    print("\n".join(map(printable, report.lines(arguments.dry_run))))
    return EXIT_FAILURES if report.failed else 0


def add_yandex_parsers(commands: Any) -> None:
    """Register `import-yandex` and `link-yandex` on the CLI's sub-parsers."""
    index = commands.add_parser(
        "import-yandex",
        help="index albums, tracks, artists, playlists, the chart or likes from Yandex Music",
        description="Links as pasted from music.yandex.ru (.com, .by, .kz): "
        + ", ".join(LINK_FORMS)
        + ". Needs YANDEX_MUSIC_TOKEN.",
    )
    index.add_argument("links", nargs="*", metavar="LINK")
    index.add_argument("--liked", action="store_true", help="the token owner's liked tracks")
    index.add_argument("--all", action="store_true", help="every track of an artist, not the top")
    index.add_argument("--limit", type=int, metavar="N", help="import at most N tracks")
    index.add_argument("--workers", type=int, help="embedding processes (default: cores)")
    index.add_argument("--keep", type=Path, metavar="DIR", help="keep the mp3s here")
    index.set_defaults(handler=import_yandex_command)

    link = commands.add_parser(
        "link-yandex", help="attach Yandex Music ids to catalog tracks by confident search"
    )
    link.add_argument("--dry-run", action="store_true", help="report only, write nothing")
    link.set_defaults(handler=link_yandex_command)
