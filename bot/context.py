"""What every handler reaches through its context: the resources post_init opened.

`BotContext` is the Application's typed context (python-telegram-bot's `ContextTypes`), so a
handler writes `context.resources.database` and a type checker knows what it gets, instead of
looking a name up in `bot_data`.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telegram import CallbackQuery, Message, Update, User
from telegram.ext import Application, CallbackContext, ExtBot

from bot.config import BotSettings
from bot.queues import PagingLine, UserQueues
from bot.refusals import Refusals
from catalog.recommender import Recommender
from catalog.yandex.questions import YandexQuestions
from storage import Database


@dataclass
class Resources:
    """The long-lived things the handlers share, opened in post_init, closed in post_shutdown."""

    settings: BotSettings
    database: Database
    recommender: Recommender
    downloads: Path  # private (0700) folder for files being analysed
    questions: YandexQuestions  # Yandex Music links and search
    queues: UserQueues = field(default_factory=UserQueues)
    paging: PagingLine = field(default_factory=PagingLine)  # one page at a time per user
    refusals: Refusals = field(default_factory=Refusals)  # strangers told lately


class BotData:
    """The Application's bot_data: the settings from the start, the resources once open."""

    def __init__(self) -> None:
        self.settings: BotSettings | None = None
        self.resources: Resources | None = None


class BotContext(CallbackContext[ExtBot[int], dict[Any, Any], dict[Any, Any], BotData]):
    """The context every handler receives."""

    @property
    def resources(self) -> Resources:
        """The open resources; they exist from post_init to post_shutdown, when updates flow."""
        resources = self.bot_data.resources
        if resources is None:
            raise RuntimeError("an update arrived before post_init opened the resources")
        return resources


BotApplication = Application[ExtBot[int], BotContext, dict[Any, Any], dict[Any, Any], BotData, Any]
"""The Application as bot.app builds it: AIORateLimiter's ExtBot, our context and bot_data."""


def sender(update: Update) -> tuple[Message, User]:
    """The message and its author; the handlers using this are registered for messages."""
    message, user = update.effective_message, update.effective_user
    if message is None or user is None:
        raise TypeError(f"update {update.update_id} has no message from a person")
    return message, user


def pressed(update: Update) -> tuple[CallbackQuery, User, str]:
    """A button press: the callback, who pressed it and its data."""
    callback, user = update.callback_query, update.effective_user
    if callback is None or user is None:
        raise TypeError(f"update {update.update_id} is not a button press")
    return callback, user, callback.data or ""
