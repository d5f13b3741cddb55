"""The real `python -m bot` process: start-up, a reply through the fake Bot API server, and a
clean stop on SIGTERM; a clear exit without a token."""

import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from audio_factory import make_library
from fake_telegram import FakeTelegram, FakeUser
from fake_yandex import FakeYandex

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
        assert "started model=fusion:aisfx+msd-vgg/pool5@fe3" in stderr and "stopped" in stderr
        assert not downloads.exists() and not list(scratch.iterdir())  # temp files removed


def test_python_m_bot_answers_yandex_links_from_its_catalog_and_by_download(
    tmp_path: Path,
) -> None:
    """The settings as an operator sets them (YANDEX_MUSIC_API_URL, YANDEX_MUSIC_TOKEN,
    SSL_CERT_FILE): a catalog built by import-yandex, then a link to one of its tracks (no
    download) and to a new track (downloaded once) in the chat of the real process."""
    tracks = make_library(tmp_path / "library", 3, seconds=10.0)
    with FakeTelegram() as server, FakeYandex(tmp_path) as ym:
        album_id, ids = ym.add_album("Album", "Band", [path.read_bytes() for path in tracks[:2]])
        new_id = ym.add_track("Fresh", "Other Band", tracks[2].read_bytes())
        env = {
            **os.environ,
            **server.env(),
            **ym.env(),
            "ADMIN_IDS": str(ADMIN.id),
            "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
            "MODEL": "msd-vgg/pool5",
            "WORKERS": "1",
            "PYTHONPATH": str(ROOT),
        }
        link = f"https://music.yandex.ru/album/{album_id}"
        command = [sys.executable, "-m", "bot", "import-yandex", link]
        subprocess.run(command, cwd=tmp_path, env=env, check=True, timeout=300)
        process = subprocess.Popen(
            [sys.executable, "-m", "bot"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            server.wait_for("getUpdates", timeout=90)
            for track_id, name in ((ids[0], "Band — Album 1"), (new_id, "Other Band — Fresh")):
                mark = server.mark()
                text = f"https://music.yandex.ru/track/{track_id}?utm_medium=copy_link"
                server.push_update(server.text_message(ADMIN, text))
                server.wait_for(
                    lambda call, name=name: (
                        call.ok
                        and call.method == "editMessageText"
                        and f"Sounds like {name}" in call.params["text"]
                    ),
                    since=mark,
                    timeout=90,
                )
            assert (ym.downloads[ids[0]], ym.downloads[new_id]) == (1, 1)  # the import's; ours
        finally:
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        assert server.token not in stderr and ym.token not in stderr


def test_python_m_bot_without_a_token_exits_2(tmp_path: Path) -> None:
    result = run_bot(tmp_path, {"BOT_TOKEN": ""})
    assert result.returncode == 2
    assert "BOT_TOKEN is not set" in result.stderr and "Traceback" not in result.stderr


def test_an_unknown_model_is_refused_at_start_up_in_one_line(tmp_path: Path) -> None:
    with FakeTelegram() as server:
        result = run_bot(tmp_path, {**server.env(), "MODEL": "msd-vgg/pool9"})
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            "error: MODEL: msd-vgg has no layer 'pool9'; known: pool5"
        ]
        assert not server.calls()  # refused before the bot or a worker started


def run_bot(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m bot` to its end, with its own database file unless `env` names one."""
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env={
            **os.environ,
            "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
            "WORKERS": "1",
            **env,
            "PYTHONPATH": str(ROOT),
        },
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        ("revoked token", "error: Telegram rejected the token (401"),
        ("wrong url", "error: no Bot API at TELEGRAM_API_URL (404"),
        ("web page at the url", "error: no Bot API at TELEGRAM_API_URL (404"),
        ("nothing listening", "error: cannot reach the Bot API at TELEGRAM_API_URL"),
    ],
)
def test_a_rejected_start_is_one_line_without_the_token(
    tmp_path: Path, failure: str, expected: str
) -> None:
    """getMe answered 401 or 404, or no answer at all: exit 2 in one line, the token nowhere."""
    with FakeTelegram() as server:
        env = server.env()
        if failure == "revoked token":  # well-formed, but not the server's: 401 Unauthorized
            env["BOT_TOKEN"] = f"{server.bot_id}:AA{'r' * 33}"
        elif failure == "wrong url":  # a JSON 404, as the Bot API gives for unknown paths
            env["TELEGRAM_API_URL"] = f"{server.base_url}/not-the-bot-api"
        elif failure == "web page at the url":  # some web server's HTML 404 page
            server.fail_next("getMe", status=404, body=b"<html><h1>Not Found</h1></html>")
        else:
            env["TELEGRAM_API_URL"] = f"http://127.0.0.1:{free_port()}"
        result = run_bot(tmp_path, env)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert env["BOT_TOKEN"] not in output
    assert env["BOT_TOKEN"].split(":")[1] not in output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected), output
    assert not (tmp_path / "bot.sqlite3").exists()  # stopped before opening anything


def foreign_database(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    conn.close()


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("text file", "is not an SQLite database"),
        ("folder", "is a folder"),
        ("other application's database", "another application's SQLite database"),
    ],
)
def test_a_bad_database_path_stops_the_bot_in_one_line(
    tmp_path: Path, kind: str, expected: str
) -> None:
    path = tmp_path / "bad"
    if kind == "text file":
        path.write_text("hello\n" * 30)
    elif kind == "folder":
        path.mkdir()
    else:
        foreign_database(path)
    before = sorted(tmp_path.iterdir()), path.read_bytes() if path.is_file() else b""
    with FakeTelegram() as server:
        result = run_bot(tmp_path, {**server.env(), "DATABASE_PATH": str(path)})
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output and server.token not in output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: ") and expected in lines[0]
    assert (sorted(tmp_path.iterdir()), path.read_bytes() if path.is_file() else b"") == before


def test_a_read_only_database_stops_the_bot_in_one_line(tmp_path: Path) -> None:
    """The bot writes (whitelist, rankings): on a read-only mount it refuses to start.

    Root ignores permission bits, so the folder is bind-mounted read-only in a user namespace.
    """
    folder = tmp_path / "ro"
    folder.mkdir()
    mount = 'mount --bind -o ro "$0" "$0" && exec "$@"'
    if subprocess.run(["unshare", "-rm", "true"], capture_output=True, check=False).returncode:
        pytest.skip("no user namespaces here: `unshare -rm` cannot bind-mount read-only")
    path = folder / "bot.sqlite3"
    with FakeTelegram() as server:
        result = subprocess.run(
            ["unshare", "-rm", "sh", "-c", mount, str(folder), sys.executable, "-m", "bot"],
            cwd=tmp_path,
            env={
                **os.environ,
                **server.env(),
                "DATABASE_PATH": str(path),
                "PYTHONPATH": str(ROOT),
            },
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert output.strip().splitlines() == [
        f"error: {path}: is read-only here (the file or its folder can't be written) and this "
        "needs to write; commands that only read still work"
    ]
    assert not path.exists()
