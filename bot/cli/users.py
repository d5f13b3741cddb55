"""`python -m bot users allow ID|deny ID|list`: the whitelist, from the terminal."""

import argparse
import sys

from bot.cli.common import EXIT_FAILURES, open_database
from bot.config import Settings
from bot.numbers import TELEGRAM_ID_MAX, number_argument


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


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    users = commands.add_parser("users", help="manage the whitelist: allow ID, deny ID, list")
    user_actions = users.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, text in (("allow", "let a Telegram user in"), ("deny", "revoke their access")):
        user_actions.add_parser(action, help=text).add_argument(
            "id", type=number_argument(1, TELEGRAM_ID_MAX), metavar="ID"
        )
    user_actions.add_parser("list", help="whitelisted users, admins first")
    users.set_defaults(handler=users_command)
