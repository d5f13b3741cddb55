"""`python -m bot import-yandex LINK... [--liked] [--all] [--limit N] [--keep DIR]`.

Usage errors (a malformed link, no token, a rejected token) are one line on stderr and exit
status 2, found before anything is downloaded or any worker started. The token is never printed:
messages name the setting, not its value.
"""

import argparse
import sys
from pathlib import Path

from bot.cli.common import (
    EXIT_FAILURES,
    add_workers_option,
    embedder,
    print_lines,
    print_stopped,
    summary_when_interrupted,
    token_problem,
    usage,
    yandex_music,
)
from bot.config import Settings
from bot.numbers import number_argument
from catalog.numbers import SQLITE_INT_MAX
from catalog.yandex.links import LINK_FORMS, LikedTracks, LinkError, Target, parse_links
from storage import Database

DOWNLOADS_AT_ONCE = 3  # polite to the service, and enough to keep the workers fed


def _targets(arguments: argparse.Namespace) -> list[Target]:
    targets = parse_links(arguments.links)
    if arguments.liked:
        targets.append(LikedTracks())
    return targets


async def import_yandex_command(arguments: argparse.Namespace, settings: Settings) -> int:
    """Index albums, playlists, artists, the chart and likes from Yandex Music."""
    from catalog.yandex.client import YandexAccessError
    from catalog.yandex.importer import YandexImport, download_folder

    try:
        targets = _targets(arguments)
    except LinkError as error:
        return usage(f"{error}\nunderstood links: {', '.join(LINK_FORMS)}")
    if not targets:
        return usage("give at least one Yandex Music link, or --liked")
    if arguments.keep is not None and settings.backend.uses_ray:
        return usage(
            "--keep needs the local workers: on Ray (RAY_ADDRESS) the workers download the "
            "audio themselves and keep none; unset RAY_ADDRESS to keep the mp3s"
        )
    music = yandex_music()
    if (status := await token_problem(music)) is not None:
        return status
    keep: Path | None = arguments.keep
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    async with (
        Database(settings.database_path) as database,
        embedder(settings, arguments.workers) as service,
    ):
        with download_folder(settings.database_path) as folder:
            job = YandexImport(
                database, service, music, folder, keep=keep, downloads=DOWNLOADS_AT_ONCE
            )
            try:
                with summary_when_interrupted(job.summary.lines):
                    tracks = await job.collect(
                        targets, all_artist_tracks=arguments.all, limit=arguments.limit
                    )
                    print(
                        f"importing {len(tracks)} track(s) from Yandex Music into "
                        f"{settings.database_path} with {service.model_id}, "
                        f"{service.describe()}",
                        file=sys.stderr,
                    )
                    summary = await job.run(tracks)
            except YandexAccessError as error:  # the token was revoked during the run
                print_stopped(job.summary.lines(), "stopped")
                return usage(str(error))
    print_lines(summary.lines())
    return EXIT_FAILURES if summary.failures else 0


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
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
    index.add_argument(
        "--limit",
        type=number_argument(1, SQLITE_INT_MAX),
        metavar="N",
        help="import at most N tracks",
    )
    add_workers_option(index)
    index.add_argument("--keep", type=Path, metavar="DIR", help="keep the mp3s here")
    index.set_defaults(handler=import_yandex_command)
