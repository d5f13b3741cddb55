"""What every handler reaches through its context: the resources post_init opened.

`BotContext` is the Application's typed context (python-telegram-bot's `ContextTypes`), so a
handler writes `context.resources.database` and a type checker knows what it gets, instead of
looking a name up in `bot_data`.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telegram.ext import Application, CallbackContext, ExtBot

from bot.config import BotSettings
from bot.queues import UserQueues
from bot.recommender import Recommender
from storage import Database


@dataclass
class Resources:
    """The long-lived things the handlers share, opened in post_init, closed in post_shutdown."""

    settings: BotSettings
    database: Database
    recommender: Recommender
    downloads: Path  # private (0700) folder for files being analysed
    queues: UserQueues = field(default_factory=UserQueues)


class BotData:
    """The Application's bot_data: the settings from the start, the resources once open."""

    def __init__(self) -> None:
        self.settings: BotSettings | None = None
        self.resources: Resources | None = None


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """The context every handler receives."""

    @property
    def resources(self) -> Resources:
        """The open resources; they exist from post_init to post_shutdown, when updates flow."""
        resources = self.bot_data.resources
        if resources is None:
            raise RuntimeError("an update arrived before post_init opened the resources")
        return resources


BotApplication = Application[ExtBot[None], BotContext, dict[Any, Any], dict[Any, Any], BotData, Any]
