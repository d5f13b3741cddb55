"""`python -m bot reindex [--workers N]`: every catalog track embedded with the configured model
(resumable; Yandex Music tracks whose file is gone are fetched again)."""

import argparse
import sys

from bot.cli.common import (
    EXIT_FAILURES,
    add_workers_option,
    embedder,
    print_lines,
    summary_when_interrupted,
    token_problem,
    yandex_music,
)
from bot.config import Settings
from storage import Database


async def reindex_command(arguments: argparse.Namespace, settings: Settings) -> int:
    """Embed every catalog track that lacks the configured model's vector (resumable)."""
    from catalog.reindex import Reindexer
    from catalog.serving import adopt_previous_vectors
    from catalog.yandex.importer import download_folder

    music = yandex_music()
    # Yandex Music tracks fetched again, each deleted once embedded; a killed run's leftovers
    # are removed by the next run (import-yandex's private folder beside the database)
    with download_folder(settings.database_path) as downloads:
        async with Database(settings.database_path) as database:
            await adopt_previous_vectors(database, settings.model)
            reindexer = Reindexer(database, settings.model.model_id, music, downloads)
            tracks = await reindexer.missing()
            fetches = music.has_token and any(t.yandex_track_id for t in tracks)
            # a bad token stops here, not once per track
            if fetches and (status := await token_problem(music)) is not None:
                return status
            if tracks:  # the workers start only when there is something to embed
                async with embedder(settings, arguments.workers) as service:
                    print(
                        f"reindexing {len(tracks)} track(s) of {settings.database_path} with "
                        f"{service.model_id}, {service.describe()}",
                        file=sys.stderr,
                    )
                    with summary_when_interrupted(reindexer.summary.lines):
                        await reindexer.run(tracks, service)
    summary = reindexer.summary
    print_lines(summary.lines())
    return EXIT_FAILURES if summary.failures else 0


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    reindex = commands.add_parser(
        "reindex", help="embed every catalog track with the configured model (resumable)"
    )
    add_workers_option(reindex)
    reindex.set_defaults(handler=reindex_command)
