"""Delivering an answer so that one Telegram hiccup does not lose it, nor doubles it.

The call that carries an answer gets longer timeouts than PTB's 5 s defaults (a slow edit that
Telegram applies after 8 s must not count as failed) and is retried on network errors and 5xx
answers (PTB raises NetworkError for both) with exponential backoff. 429s are waited out by the
Application's AIORateLimiter; a 400 is not worth repeating.

Editing is idempotent: when a timed-out edit had landed after all, its retry is answered
"message is not modified", which counts as delivered. Sending is not, so a send is retried only
when the request cannot have been applied (not after a timeout) — the user gets one answer.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from telegram import Bot, InlineKeyboardMarkup, Message
from telegram.error import BadRequest, NetworkError, TimedOut

log = logging.getLogger(__name__)

DELIVERY_TIMEOUT = 30.0  # seconds to write the request and to read Telegram's answer
ATTEMPTS = 4
FIRST_BACKOFF = 0.5  # seconds; doubles after every failed attempt

T = TypeVar("T")


async def _retried(call: Callable[[float], Awaitable[T]], *, idempotent: bool, timeout: float) -> T:
    """`call(timeout)`, again after a network error or 5xx; after a timeout only if
    `idempotent`. The last error is raised when every attempt failed."""
    delay = FIRST_BACKOFF
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return await call(timeout)
        except BadRequest:
            raise
        except TimedOut:
            if not idempotent or attempt == ATTEMPTS:
                raise
            log.warning("delivery timed out (attempt %d); retrying", attempt)
        except NetworkError as error:
            if attempt == ATTEMPTS:
                raise
            log.warning("delivery failed (attempt %d): %s; retrying", attempt, error)
        await asyncio.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable: the last attempt returns or raises")


async def send(
    bot: Bot,
    chat_id: int,
    text: str,
    keyboard: InlineKeyboardMarkup | None = None,
    *,
    timeout: float = DELIVERY_TIMEOUT,
) -> Message:
    """A new message, retried while it cannot have been delivered."""
    return await _retried(
        lambda seconds: bot.send_message(
            chat_id, text, reply_markup=keyboard, read_timeout=seconds, write_timeout=seconds
        ),
        idempotent=False,
        timeout=timeout,
    )


async def announce(bot: Bot, chat_id: int, text: str) -> Message | None:
    """A status message ("Analysing…"), retried as `send` retries; None when it still could
    not be sent — the caller carries on without it (the answer then comes as a new message),
    because a lost status must not cost the user their track."""
    try:
        return await send(bot, chat_id, text)
    except NetworkError as error:  # 5xx, a network error or a timeout, after the retries
        log.warning("status message to chat %s not sent (%s): carrying on", chat_id, error)
        return None


async def replace(
    bot: Bot,
    status: Message,
    text: str,
    keyboard: InlineKeyboardMarkup | None = None,
    *,
    timeout: float = DELIVERY_TIMEOUT,
) -> None:
    """Turn the status message into `text`; if it cannot be edited (deleted, too old, edits
    keep failing), send `text` as a new message instead."""
    try:
        await _retried(
            lambda seconds: bot.edit_message_text(
                text,
                status.chat_id,
                status.message_id,
                reply_markup=keyboard,
                read_timeout=seconds,
                write_timeout=seconds,
            ),
            idempotent=True,
            timeout=timeout,
        )
        return
    except BadRequest as error:
        if "not modified" in error.message.lower():
            return  # an earlier attempt landed although its answer was lost
        log.warning("status %s not editable (%s): sending the answer", status.message_id, error)
    except NetworkError as error:
        log.warning("status %s edits failed (%s): sending the answer", status.message_id, error)
    await send(bot, status.chat_id, text, keyboard, timeout=timeout)


async def deliver(
    bot: Bot,
    chat_id: int,
    messages: Sequence[str],
    keyboard: InlineKeyboardMarkup | None,
    *,
    status: Message | None = None,
    timeout: float = DELIVERY_TIMEOUT,
) -> None:
    """`messages` in order, the first replacing `status` when given, the keyboard under the
    last. Returns once all arrived; raises when one could not be delivered."""
    for index, text in enumerate(messages):
        markup = keyboard if index == len(messages) - 1 else None
        if index == 0 and status is not None:
            await replace(bot, status, text, markup, timeout=timeout)
        else:
            await send(bot, chat_id, text, markup, timeout=timeout)
