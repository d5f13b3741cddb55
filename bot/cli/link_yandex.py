"""`python -m bot link-yandex [--dry-run]`: Yandex Music ids for catalog tracks that have none,
attached on confident matches only."""

import argparse

from bot.cli.common import EXIT_FAILURES, print_lines, token_problem, yandex_music
from bot.config import Settings
from storage import Database


async def link_yandex_command(arguments: argparse.Namespace, settings: Settings) -> int:
    """Attach Yandex Music ids to catalog tracks that have none, on confident matches only."""
    from catalog.yandex.matching import link_catalog

    music = yandex_music()
    # search works without a token; a bad one should stop us early
    if music.has_token and (status := await token_problem(music)) is not None:
        return status
    async with Database(settings.database_path) as database:
        report = await link_catalog(database, music, dry_run=arguments.dry_run)
    print_lines(report.lines(arguments.dry_run))
    return EXIT_FAILURES if report.failed else 0


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    link = commands.add_parser(
        "link-yandex", help="attach Yandex Music ids to catalog tracks by confident search"
    )
    link.add_argument("--dry-run", action="store_true", help="report only, write nothing")
    link.set_defaults(handler=link_yandex_command)
