"""Who may use the bot: admins (from the configuration) and the users they whitelist."""

import builtins
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from storage.codecs import parse_timestamp
from storage.errors import disk_full_as_error
from storage.session import Connector


class Role(StrEnum):
    ADMIN = "admin"
    USER = "user"


@dataclass(frozen=True, slots=True)
class User:
    telegram_id: int
    username: str | None
    role: Role
    whitelisted: bool
    added_by: int | None  # the admin who allowed them; None for admins from the configuration
    added_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


_COLUMNS = "telegram_id, username, role, whitelisted, added_by, added_at"


def _user(row: sqlite3.Row) -> User:
    return User(
        telegram_id=row["telegram_id"],
        username=row["username"],
        role=Role(row["role"]),
        whitelisted=bool(row["whitelisted"]),
        added_by=row["added_by"],
        added_at=parse_timestamp(row["added_at"]),
    )


class UserRepository:
    """The `users` table: the access whitelist and roles."""

    def __init__(self, connector: Connector) -> None:
        self._sql = connector

    async def is_whitelisted(self, telegram_id: int) -> bool:
        """The access gate's question; one indexed lookup per update."""
        row = await self._sql.fetchone(
            "SELECT whitelisted FROM users WHERE telegram_id = ?", (telegram_id,)
        )
        return bool(row and row["whitelisted"])

    async def allow(self, telegram_id: int, by: int | None, *, username: str | None = None) -> User:
        """Whitelist a user (creating the row); who and when is kept from the first grant.
        DiskFullError when the disk is full."""
        with disk_full_as_error(f"user {telegram_id}"):
            row = await self._sql.fetchone_required(
                f"""INSERT INTO users (telegram_id, username, whitelisted, added_by)
                VALUES (?, ?, 1, ?)
                ON CONFLICT (telegram_id) DO UPDATE SET
                    username = coalesce(excluded.username, users.username),
                    added_by = CASE WHEN users.whitelisted THEN users.added_by
                                    ELSE excluded.added_by END,
                    added_at = CASE WHEN users.whitelisted THEN users.added_at
                                    ELSE excluded.added_at END,
                    whitelisted = 1
                RETURNING {_COLUMNS}""",
                (telegram_id, username, by),
            )
        return _user(row)

    async def deny(self, telegram_id: int) -> bool:
        """Revoke a user's access; False if they had none. Admins come from the configuration
        and are not affected (remove them there)."""
        with disk_full_as_error(f"user {telegram_id}"):
            changed = await self._sql.execute(
                "UPDATE users SET whitelisted = 0 "
                "WHERE telegram_id = ? AND role = 'user' AND whitelisted = 1",
                (telegram_id,),
            )
        return changed > 0

    async def list(self, *, whitelisted_only: bool = True) -> builtins.list[User]:
        """Admins first, then users in the order they were added."""
        rows = await self._sql.fetchall(
            f"SELECT {_COLUMNS} FROM users WHERE whitelisted = 1 OR NOT ? "
            "ORDER BY role = 'user', added_at, telegram_id",
            (whitelisted_only,),
        )
        return [_user(row) for row in rows]

    async def other_artists(self, telegram_id: int) -> bool:
        """Whether the user's lists leave out the asked-about artist (off by default)."""
        row = await self._sql.fetchone(
            "SELECT other_artists FROM users WHERE telegram_id = ?", (telegram_id,)
        )
        return bool(row and row["other_artists"])

    async def set_other_artists(self, telegram_id: int, on: bool) -> bool:
        """Turn the user's "other artists only" switch on or off; False for an unknown user.
        DiskFullError when the disk is full."""
        with disk_full_as_error(f"user {telegram_id}"):
            changed = await self._sql.execute(
                "UPDATE users SET other_artists = ? WHERE telegram_id = ?", (int(on), telegram_id)
            )
        return changed > 0

    async def ensure_admins(self, admin_ids: Iterable[int]) -> None:
        """Make the configured admins exactly the admin rows, whitelisted.

        Called at start-up: the configuration is the source of truth for who is admin. Former
        admins become plain users and keep their whitelist flag (`deny` revokes access).
        """
        ids = sorted({int(telegram_id) for telegram_id in admin_ids})
        async with self._sql.transaction() as tx:
            await tx.execute(
                "UPDATE users SET role = 'user' "
                "WHERE role = 'admin' AND telegram_id NOT IN (SELECT value FROM json_each(?))",
                (json.dumps(ids),),
            )
            await tx.executemany(
                """INSERT INTO users (telegram_id, role, whitelisted) VALUES (?, 'admin', 1)
                   ON CONFLICT (telegram_id) DO UPDATE SET role = 'admin', whitelisted = 1""",
                [(telegram_id,) for telegram_id in ids],
            )
