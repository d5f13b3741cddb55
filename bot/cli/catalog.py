"""`python -m bot catalog list|stats|remove ID`: the catalog, from the terminal."""

import argparse
import sys

from bot.cli.common import EXIT_FAILURES, open_database, shown
from bot.config import Settings
from bot.numbers import number_argument
from catalog.links import track_url
from catalog.numbers import SQLITE_INT_MAX


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


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    catalog = commands.add_parser("catalog", help="list, count or remove catalog tracks")
    actions = catalog.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="tracks in import order")
    listing.add_argument("--limit", type=number_argument(0, SQLITE_INT_MAX), default=50)
    listing.add_argument("--offset", type=number_argument(0, SQLITE_INT_MAX), default=0)
    actions.add_parser("stats", help="counts per model, total duration")
    remove = actions.add_parser("remove", help="remove a track and its vectors")
    remove.add_argument("id", type=number_argument(1, SQLITE_INT_MAX), metavar="ID")
    catalog.set_defaults(handler=catalog_command)
