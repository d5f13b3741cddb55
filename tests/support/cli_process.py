"""`python -m bot …` as an operator runs it: one real process per call, for every CLI test."""

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_bot(
    *args: str,
    database: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 300,
    prefix: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot ARGS` on `database` (DATABASE_PATH) and return what it printed.

    `env` adds settings; `prefix` wraps the command (e.g. `unshare … sh -c …` for a mount).
    """
    return subprocess.run(
        [*prefix, sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_PATH": str(database), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
