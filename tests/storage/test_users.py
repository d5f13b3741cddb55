"""UserRepository: the whitelist and roles from the configuration."""

from storage import Database, Role, User


async def user(db: Database, telegram_id: int) -> User | None:
    """The user's row, as `users list` sees it."""
    everyone = await db.users.list(whitelisted_only=False)
    return next((u for u in everyone if u.telegram_id == telegram_id), None)


async def test_unknown_user(db: Database) -> None:
    assert not await db.users.is_whitelisted(1)
    assert not await db.users.deny(1)
    assert await user(db, 1) is None


async def test_allow_deny_and_allow_again(db: Database) -> None:
    user = await db.users.allow(42, by=1, username="ann")
    assert (user.telegram_id, user.username, user.role, user.whitelisted) == (
        42,
        "ann",
        Role.USER,
        True,
    )
    assert user.added_by == 1 and user.added_at.tzinfo is not None
    assert await db.users.is_whitelisted(42)

    again = await db.users.allow(42, by=2)  # already allowed: the first grant is kept
    assert (again.added_by, again.added_at, again.username) == (1, user.added_at, "ann")

    assert await db.users.deny(42)
    assert not await db.users.deny(42)
    assert not await db.users.is_whitelisted(42)

    regranted = await db.users.allow(42, by=2, username="ann_new")
    assert regranted.whitelisted and regranted.added_by == 2
    assert regranted.username == "ann_new"


async def test_ensure_admins_follows_the_configuration(db: Database) -> None:
    await db.users.allow(5, by=None)
    await db.users.ensure_admins([1, 2, 5])
    for admin_id in (1, 2, 5):
        admin = await user(db, admin_id)
        assert admin is not None and admin.is_admin and admin.whitelisted

    assert not await db.users.deny(1)  # admins are managed in the configuration only
    assert await db.users.is_whitelisted(1)

    await db.users.ensure_admins([2])
    former = await user(db, 1)
    assert former is not None and former.role is Role.USER and former.whitelisted
    assert {u.telegram_id for u in await db.users.list() if u.is_admin} == {2}


async def test_list_puts_admins_first_and_can_include_denied(db: Database) -> None:
    for user_id in (10, 20, 30):
        await db.users.allow(user_id, by=1)
    await db.users.ensure_admins([99])
    await db.users.deny(20)
    assert [u.telegram_id for u in await db.users.list()] == [99, 10, 30]
    everyone = await db.users.list(whitelisted_only=False)
    assert [u.telegram_id for u in everyone] == [99, 10, 20, 30]


async def test_other_artists_switch_is_per_user_and_off_by_default(db: Database) -> None:
    await db.users.allow(42, by=1)
    await db.users.allow(43, by=1)
    assert not await db.users.other_artists(42)
    assert await db.users.set_other_artists(42, True)
    assert await db.users.other_artists(42) and not await db.users.other_artists(43)
    assert await db.users.set_other_artists(42, False)
    assert not await db.users.other_artists(42)
    assert not await db.users.set_other_artists(99, True)  # nobody to remember it for
    assert not await db.users.other_artists(99)
