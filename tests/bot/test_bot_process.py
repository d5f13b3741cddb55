"""The real `python -m bot` process: start-up, a reply through the fake Bot API server, and a
clean stop on SIGTERM; a clear exit without a token."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from fake_telegram import FakeTelegram, FakeUser

ROOT = Path(__file__).resolve().parents[2]
ADMIN = FakeUser(1000, "Admin", "admin")


def test_python_m_bot_runs_until_sigterm_and_cleans_up(tmp_path: Path) -> None:
    downloads = tmp_path / "bot.sqlite3.downloads"  # beside the database
    leftover = downloads / "left-by-a-killed-run.mp3"
    leftover.parent.mkdir()
    leftover.write_bytes(b"a user's file")
    with FakeTelegram() as server:
        scratch = tmp_path / "tmp"
        scratch.mkdir()
        env = {
            **os.environ,
            **server.env(),
            "ADMIN_IDS": str(ADMIN.id),
            "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
            "WORKERS": "1",
            "TMPDIR": str(scratch),
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "bot"],
            cwd=tmp_path,  # no .env here; the package is found through PYTHONPATH
            env={**env, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            server.wait_for("getUpdates", timeout=90)
            server.push_update(server.text_message(ADMIN, "/start"))
            server.wait_for(
                lambda call: (
                    call.ok and call.method == "sendMessage" and "Soundalike" in call.params["text"]
                ),
                timeout=30,
            )
            assert downloads.stat().st_mode & 0o777 == 0o700  # the private download folder
            assert not leftover.exists()  # swept at start
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        assert server.token not in stderr
        assert "started model=msd-vgg/pool5@fe1" in stderr and "stopped" in stderr
        assert not downloads.exists() and not list(scratch.iterdir())  # temp files removed


def test_python_m_bot_without_a_token_exits_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "BOT_TOKEN is not set" in result.stderr and "Traceback" not in result.stderr


def test_an_unknown_model_is_refused_at_start_up_in_one_line(tmp_path: Path) -> None:
    with FakeTelegram() as server:
        env = {**os.environ, **server.env(), "MODEL": "msd-vgg/pool9"}
        result = subprocess.run(
            [sys.executable, "-m", "bot"],
            cwd=tmp_path,
            env={**env, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            "error: MODEL: msd-vgg has no layer 'pool9'; known: pool5"
        ]
        assert not server.calls()  # refused before the bot or a worker started
