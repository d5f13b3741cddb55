"""Who may use the bot: the gate in front of every update, and the admins' whitelist commands."""

import logging
from html import escape

from telegram import Update, User
from telegram.ext import ApplicationHandlerStop

from bot.context import BotContext, sender
from bot.numbers import parse_user_id
from bot.texts import texts_for
from storage.errors import DiskFullError

log = logging.getLogger(__name__)


async def gate(update: Update, context: BotContext) -> None:
    """Handler group -1: stop every update of a user who is neither admin nor whitelisted.

    Runs before any other handler, so a stranger's file is never downloaded or analysed.
    A stranger is told their numeric id to pass on to an admin once (again after a day); the
    rest of their updates are dropped without a call to Telegram, except that a button press
    is always answered. The whitelist is read first, so an /allow or `users allow` counts at
    once.
    """
    user = update.effective_user
    if user is None:  # channel posts, polls and other updates without a person: ignored
        raise ApplicationHandlerStop
    resources = context.resources
    if user.id in resources.settings.admin_ids or await resources.database.users.is_whitelisted(
        user.id
    ):
        return
    tell = resources.refusals.due(user.id)
    if tell:
        log.info("refused user=%s update=%s", user.id, update.update_id)
    texts = texts_for(user.language_code)
    refusal = texts.stranger.format(user_id=user.id)
    if update.callback_query is not None:
        plain = refusal.replace("<code>", "").replace("</code>", "")
        await update.callback_query.answer(plain if tell else None, show_alert=tell)
    elif tell and update.effective_chat is not None:
        await context.bot.send_message(update.effective_chat.id, refusal)
    raise ApplicationHandlerStop


def _is_admin(user: User, context: BotContext) -> bool:
    return user.id in context.resources.settings.admin_ids


async def _admin_target(update: Update, context: BotContext, usage: str) -> int | None:
    """The ID argument of an admin command; None after telling a non-admin or a typo why."""
    message, user = sender(update)
    if not _is_admin(user, context):
        await message.reply_text(texts_for(user.language_code).not_allowed)
        return None
    args = context.args or []
    target = parse_user_id(args[0]) if len(args) == 1 else None
    if target is None:
        await message.reply_text(usage)
    return target


async def allow(update: Update, context: BotContext) -> None:
    """/allow ID — admins only."""
    message, user = sender(update)
    texts = texts_for(user.language_code)
    target = await _admin_target(update, context, texts.allow_usage)
    if target is None:
        return
    try:
        await context.resources.database.users.allow(target, user.id)
    except DiskFullError as error:  # say what failed, not "went wrong while analysing"
        log.error("allow user=%s by=%s not saved: %s", target, user.id, error)
        await message.reply_text(texts.disk_full)
        return
    log.info("allowed user=%s by=%s", target, user.id)
    await message.reply_text(texts.allowed.format(user_id=target))


async def deny(update: Update, context: BotContext) -> None:
    """/deny ID — admins only; admins themselves are set by ADMIN_IDS."""
    message, user = sender(update)
    texts = texts_for(user.language_code)
    target = await _admin_target(update, context, texts.deny_usage)
    if target is None:
        return
    if target in context.resources.settings.admin_ids:
        await message.reply_text(texts.cannot_deny_admin)
        return
    try:
        removed = await context.resources.database.users.deny(target)
    except DiskFullError as error:
        log.error("deny user=%s by=%s not saved: %s", target, user.id, error)
        await message.reply_text(texts.disk_full)
        return
    log.info("denied user=%s by=%s removed=%s", target, user.id, removed)
    reply = texts.denied if removed else texts.not_in_list
    await message.reply_text(reply.format(user_id=target))


async def list_users(update: Update, context: BotContext) -> None:
    """/users — admins only: the whitelist, admins first."""
    message, user = sender(update)
    texts = texts_for(user.language_code)
    if not _is_admin(user, context):
        await message.reply_text(texts.not_allowed)
        return
    users = await context.resources.database.users.list()
    if not users:
        await message.reply_text(texts.users_empty)
        return
    lines = [texts.users_header.format(count=len(users))]
    for listed in users:
        name = f" @{escape(listed.username)}" if listed.username else ""
        role = " (admin)" if listed.is_admin else ""
        lines.append(f"<code>{listed.telegram_id}</code>{name}{role}")
    await message.reply_text("\n".join(lines))
