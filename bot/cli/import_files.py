"""`python -m bot import PATH... [--meta FILE.csv]`: files and folders into the catalog."""

import argparse
import sys
from pathlib import Path

from bot.cli.common import (
    EXIT_FAILURES,
    add_workers_option,
    embedder,
    open_database,
    print_lines,
    summary_when_interrupted,
)
from bot.config import Settings
from catalog.metadata import read_metadata_csv


async def import_command(arguments: argparse.Namespace, settings: Settings) -> int:
    """Index files and folders into the catalog, with a progress bar and a final summary."""
    from catalog.importer import Importer
    from catalog.serving import adopt_previous_vectors

    table = read_metadata_csv(arguments.meta) if arguments.meta else None
    for problem in table.problems if table else []:
        print(f"{arguments.meta}: {problem}", file=sys.stderr)
    async with (
        open_database(settings, writes=True) as database,
        embedder(settings, arguments.workers) as service,
    ):
        await adopt_previous_vectors(database, settings.model)
        print(
            f"importing into {settings.database_path} with {service.model_id}, "
            f"{service.describe()}",
            file=sys.stderr,
        )
        importer = Importer(database, service, table)
        with summary_when_interrupted(importer.summary.lines):
            summary = await importer.run(arguments.paths)
    print_lines(summary.lines())
    return EXIT_FAILURES if summary.failures else 0


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    index = commands.add_parser("import", help="index audio files and folders into the catalog")
    index.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    index.add_argument(
        "--meta",
        type=Path,
        metavar="FILE.csv",
        help="CSV: file,title,artist,album,yandex_track_id,yandex_album_id",
    )
    add_workers_option(index)
    index.set_defaults(handler=import_command)
