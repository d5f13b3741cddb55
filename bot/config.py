"""Settings from environment variables, also read from a `.env` file in the working folder.

Real environment variables win over `.env`. See `.env.example` for every setting.
"""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dotenv import dotenv_values

from bot.numbers import parse_user_id
from catalog.numbers import parse_number
from core.errors import ModelFileError
from core.models import DEFAULT_MODEL, ModelSpec, parse_model_spec
from storage import DEFAULT_PATH

if TYPE_CHECKING:
    from catalog.embedders import Backend

SETTING_MAX = 100_000  # WORKERS, MAX_FILE_MB: far above any sensible value, far below overflow


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    database_path: Path
    model: ModelSpec
    workers: int | None  # None: one per CPU core (on Ray: one actor per CPU of the cluster)
    # None: the local worker processes; else the Ray cluster to embed on (see _ray_address)
    ray_address: str | None = None
    # RAY_AUTH_MODE, RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH from .env, for Ray to read from the
    # environment; never shown
    ray_auth: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def backend(self) -> "Backend":
        """The embedding backend these settings choose (catalog.embedders.make_embedder)."""
        from catalog.embedders import Backend  # the embedders load numpy: not for `--help`

        return Backend(self.ray_address, self.ray_auth)


RAY_AUTH_SETTINGS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
# Ray's modes (ray._raylet.AuthenticationMode), in any case; Ray reads any other value as
# `disabled`, silently (ray 2.60: RAY_AUTH_MODE=nonsense gives AuthenticationMode.DISABLED)
RAY_AUTH_MODES = ("token", "disabled")
_RAY_ADDRESS = re.compile(r"(ray://)?[A-Za-z0-9.\-]+:\d{1,5}|\[[0-9A-Fa-f:]+\]:\d{1,5}")


def environment(dotenv_path: Path = Path(".env")) -> dict[str, str]:
    """`.env` values overlaid by the real environment."""
    values = {k: v for k, v in dotenv_values(dotenv_path).items() if v is not None}
    return {**values, **os.environ}


def _positive_int(values: Mapping[str, str], name: str) -> int | None:
    raw = values.get(name, "").strip()
    if not raw:
        return None
    value = parse_number(raw, 1, SETTING_MAX)
    if value is None:
        raise ConfigError(f"{name} must be a whole number from 1 to {SETTING_MAX}, not {raw!r}")
    return value


def _model(values: Mapping[str, str]) -> ModelSpec:
    """The MODEL setting, checked now: a typo must not surface only when a worker starts."""
    try:
        return parse_model_spec(values.get("MODEL") or DEFAULT_MODEL)
    except (ValueError, ModelFileError) as error:
        raise ConfigError(f"MODEL: {error}") from error


def _ray_address(values: Mapping[str, str]) -> str | None:
    """RAY_ADDRESS: absent or empty for the local worker processes; `auto` (a Ray node runs on
    this machine), `ray://HOST:PORT` (Ray Client) or `HOST:PORT` (the head's GCS port)."""
    raw = values.get("RAY_ADDRESS", "").strip()
    if not raw:
        return None
    if raw != "auto" and not _RAY_ADDRESS.fullmatch(raw):
        raise ConfigError(
            f"RAY_ADDRESS must be auto, ray://HOST:PORT or HOST:PORT (or unset for the local "
            f"workers), not {raw!r}"
        )
    return raw


def _ray_auth(values: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The Ray token settings that are set; RAY_AUTH_MODE checked now: Ray itself would read a
    typo as `disabled` and connect without a token, or fail later with a misleading message."""
    mode = values.get("RAY_AUTH_MODE")
    if mode and mode.lower() not in RAY_AUTH_MODES:
        raise ConfigError(f"RAY_AUTH_MODE must be token or disabled (unset: token), not {mode!r}")
    return tuple((name, values[name]) for name in RAY_AUTH_SETTINGS if values.get(name))


def load_settings(values: Mapping[str, str] | None = None) -> Settings:
    """Settings from `values` (default: the environment and `.env`)."""
    values = environment() if values is None else values
    return Settings(
        database_path=Path(values.get("DATABASE_PATH") or DEFAULT_PATH),
        model=_model(values),
        workers=_positive_int(values, "WORKERS"),
        ray_address=_ray_address(values),
        ray_auth=_ray_auth(values),
    )


DEFAULT_YANDEX_MUSIC_API_URL = "https://api.music.yandex.net"


@dataclass(frozen=True)
class YandexSettings:
    """What `import-yandex` and `link-yandex` need: the API server and the account's token."""

    token: str | None  # None: catalogue calls only (no downloads, no likes)
    api_url: str

    def __repr__(self) -> str:  # never show the token in logs or tracebacks
        return f"YandexSettings(api_url={self.api_url!r}, token={'set' if self.token else None})"


def load_yandex_settings(values: Mapping[str, str] | None = None) -> YandexSettings:
    """YANDEX_MUSIC_TOKEN and YANDEX_MUSIC_API_URL from `values` (default: environment, .env)."""
    values = environment() if values is None else values
    return YandexSettings(
        token=values.get("YANDEX_MUSIC_TOKEN", "").strip() or None,
        api_url=(values.get("YANDEX_MUSIC_API_URL") or DEFAULT_YANDEX_MUSIC_API_URL).rstrip("/"),
    )


# The shape of a token from @BotFather: "<bot id>:<35 url-safe characters>".
TOKEN_PATTERN = re.compile(r"\d{5,12}:[A-Za-z0-9_-]{30,50}")
DEFAULT_API_URL = "https://api.telegram.org"
CLOUD_MAX_FILE_MB = 20  # the cloud Bot API serves downloads up to 20 MB
LOCAL_MAX_FILE_MB = 2000  # a self-hosted Bot API server started with --local


@dataclass(frozen=True, kw_only=True)
class BotSettings(Settings):
    """What the Telegram bot needs beyond the command line's settings."""

    bot_token: str
    api_url: str
    local_mode: bool
    admin_ids: frozenset[int]
    max_file_mb: int
    # Yandex Music links and search in the chat (downloads need the token)
    yandex: YandexSettings = field(default_factory=lambda: load_yandex_settings({}))

    def __repr__(self) -> str:  # never show the token in logs or tracebacks
        return f"BotSettings(api_url={self.api_url!r}, admins={sorted(self.admin_ids)})"


def _flag(values: Mapping[str, str], name: str) -> bool:
    raw = values.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def load_bot_settings(values: Mapping[str, str] | None = None) -> BotSettings:
    """Settings for `python -m bot`; ConfigError names the setting that is missing or wrong."""
    values = environment() if values is None else values
    base = load_settings(values)
    token = values.get("BOT_TOKEN", "").strip()
    if not token:
        raise ConfigError("BOT_TOKEN is not set: put the token from @BotFather in .env")
    if not TOKEN_PATTERN.fullmatch(token):
        raise ConfigError("BOT_TOKEN is malformed: expected <digits>:<35 characters>")
    admin_ids: set[int] = set()
    for part in values.get("ADMIN_IDS", "").replace(" ", "").split(","):
        if part:
            admin_id = parse_user_id(part)
            if admin_id is None:
                raise ConfigError(f"ADMIN_IDS must be comma-separated Telegram ids, not {part!r}")
            admin_ids.add(admin_id)
    local_mode = _flag(values, "TELEGRAM_LOCAL_MODE")
    default_mb = LOCAL_MAX_FILE_MB if local_mode else CLOUD_MAX_FILE_MB
    return BotSettings(
        database_path=base.database_path,
        model=base.model,
        workers=base.workers,
        ray_address=base.ray_address,
        ray_auth=base.ray_auth,
        bot_token=token,
        api_url=(values.get("TELEGRAM_API_URL") or DEFAULT_API_URL).rstrip("/"),
        local_mode=local_mode,
        admin_ids=frozenset(admin_ids),
        max_file_mb=_positive_int(values, "MAX_FILE_MB") or default_mb,
        yandex=load_yandex_settings(values),
    )
