"""`python -m bot …` for the tests, two ways.

`run_bot` starts one real process per call, as an operator does: for what needs a process
(signals, kill -9, the exit status of `python -m bot` itself, a read-only mount around it).
`InProcess` (the `cli_main` fixture) runs the same command in this process through
`bot.cli.main.main(argv)`: no Python and library start-up per call, for argument and bad-path
tests and commands whose output is all that is checked.
"""

import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

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


@dataclass(frozen=True)
class Finished:
    """A command's exit status and output, named as subprocess.CompletedProcess names them."""

    returncode: int
    stdout: str
    stderr: str


class InProcess:
    """`python -m bot ARGS` as `main(ARGS)` in this process, as alike a real run as it can be:

    - settings: DATABASE_PATH and `env` are set for the call only, over this process's
      environment (as run_bot lays them over it); the working folder is an empty one of the
      test's, so no developer's `.env` is read; tempfile looks for its folder again (TMPDIR);
    - output: file descriptors 1 and 2 are captured (capfd), so what the spawned embedding
      workers print is the command's output too, as in a real process;
    - logging: WARNING and above go to stderr for the call, as Python's last-resort handler
      sends them in a process that configured no logging (pytest's own handlers would
      otherwise swallow them);
    - exit status: main's return value, or the code of the SystemExit argparse raises.

    main runs its own event loop (asyncio.run) and closes its workers before it returns.
    """

    def __init__(self, capfd: pytest.CaptureFixture[str], folder: Path) -> None:
        self.capfd = capfd
        self.folder = folder

    def __call__(
        self, *args: str, database: Path, env: Mapping[str, str] | None = None
    ) -> Finished:
        from bot.cli.main import main

        self.folder.mkdir(parents=True, exist_ok=True)
        self.capfd.readouterr()  # what came before is not this command's
        handler = logging.StreamHandler(sys.stderr)  # the capture's stderr, as it is now
        handler.setLevel(logging.WARNING)
        root = logging.getLogger()
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(self.folder)
            patch.setattr(tempfile, "tempdir", None)  # found again from TMPDIR, as at start-up
            patch.setenv("DATABASE_PATH", str(database))
            for name, value in (env or {}).items():
                patch.setenv(name, value)
            root.addHandler(handler)
            try:
                status = main(list(args))
            except SystemExit as exit:  # argparse: usage errors and --help
                status = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
            finally:
                root.removeHandler(handler)
        out, err = self.capfd.readouterr()
        return Finished(status, out, err)
