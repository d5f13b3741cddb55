"""Settings from environment variables, also read from a `.env` file in the working folder.

Real environment variables win over `.env`. See `.env.example` for every setting.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

from core.models import DEFAULT_MODEL


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    database_path: Path
    model: str
    workers: int | None  # None: one per CPU core


def environment(dotenv_path: Path = Path(".env")) -> dict[str, str]:
    """`.env` values overlaid by the real environment."""
    values = {k: v for k, v in dotenv_values(dotenv_path).items() if v is not None}
    return {**values, **os.environ}


def _positive_int(values: Mapping[str, str], name: str) -> int | None:
    raw = values.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{name} must be a positive whole number, not {raw!r}")
    return int(raw)


def load_settings(values: Mapping[str, str] | None = None) -> Settings:
    """Settings from `values` (default: the environment and `.env`)."""
    values = environment() if values is None else values
    return Settings(
        database_path=Path(values.get("DATABASE_PATH") or "data/soundalike.sqlite3"),
        model=values.get("MODEL") or DEFAULT_MODEL,
        workers=_positive_int(values, "WORKERS"),
    )
