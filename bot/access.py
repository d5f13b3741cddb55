"""Who may use the bot: the gate in front of every update, and the admins' whitelist commands."""

import logging
from html import escape

from telegram import Update, User
from telegram.ext import ApplicationHandlerStop

from bot.context import BotContext, sender
from bot.texts import texts_for

log = logging.getLogger(__name__)


async def gate(update: Update, context: BotContext) -> None:
    """Handler group -1: stop every update of a user who is neither admin nor whitelisted.

    Runs before any other handler, so a stranger's file is never downloaded or analysed;
    the stranger is told their numeric id to pass on to an admin.
    """
    user = update.effective_user
    if user is None:  # channel posts, polls and other updates without a person: ignored
        raise ApplicationHandlerStop
    resources = context.resources
    if user.id in resources.settings.admin_ids or await resources.database.users.is_whitelisted(
        user.id
    ):
        return
    log.info("refused user=%s update=%s", user.id, update.update_id)
    texts = texts_for(user.language_code)
    refusal = texts.stranger.format(user_id=user.id)
    if update.callback_query is not None:
        plain = refusal.replace("<code>", "").replace("</code>", "")
        await update.callback_query.answer(plain, show_alert=True)
    elif update.effective_chat is not None:
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
    if len(args) != 1 or not args[0].lstrip("-").isdigit():
        await message.reply_text(usage)
        return None
    return int(args[0])


async def allow(update: Update, context: BotContext) -> None:
    """/allow ID — admins only."""
    message, user = sender(update)
    texts = texts_for(user.language_code)
    target = await _admin_target(update, context, texts.allow_usage)
    if target is None:
        return
    await context.resources.database.users.allow(target, user.id)
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
    removed = await context.resources.database.users.deny(target)
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
