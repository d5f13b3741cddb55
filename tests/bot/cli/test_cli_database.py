"""Every command that opens the database, against every kind of bad DATABASE_PATH: one line,
a non-zero exit, no traceback, the file untouched; and the reading commands on a read-only mount.

Tests run as root, and root ignores permission bits: a chmod 0444 file in a 0555 folder stays
writable to it. The read-only cases therefore bind-mount the folder read-only inside a user
namespace (`unshare -rm`), where writes fail with EROFS as on a real read-only mount, and are
skipped where that is not allowed; they need a real process inside that namespace. The rest
run the command in this process (cli_process.InProcess).
"""

import asyncio
import hashlib
import sqlite3
import subprocess
from collections.abc import Sequence
from pathlib import Path

import aiosqlite
import numpy as np
import pytest
from cli_process import Finished, InProcess, run_bot

from storage import MIGRATIONS, Database, migrate

COMMANDS: list[tuple[str, ...]] = [
    ("users", "list"),
    ("users", "allow", "5"),
    ("users", "deny", "5"),
    ("catalog", "list"),
    ("catalog", "stats"),
    ("catalog", "remove", "1"),
    ("recommend", "song.mp3"),
    ("import", "song.mp3"),
]


def cli(
    database: Path, *args: str, read_only_folder: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS`; with read_only_folder, that folder is mounted read-only first."""
    prefix: Sequence[str] = ()
    if read_only_folder is not None:
        mount = 'mount --bind -o ro "$0" "$0" && exec "$@"'
        prefix = ["unshare", "-rm", "sh", "-c", mount, str(read_only_folder)]
    return run_bot(*args, database=database, env={"WORKERS": "1"}, timeout=120, prefix=prefix)


def one_error_line(result: subprocess.CompletedProcess[str] | Finished) -> str:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() if p.is_file() else b"<dir>" for p in folder.iterdir()}


def make_bad(kind: str, path: Path) -> None:
    if kind == "text file":
        path.write_text("not a database\n" * 20)
    elif kind == "folder":
        path.mkdir()
    elif kind == "another application's database":
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
            conn.execute("INSERT INTO notes (body) VALUES ('mine, not yours')")
        conn.close()
    else:  # a file in place of the folder
        path.parent.write_text("a file where the folder should be")


BAD = {
    "text file": "is not an SQLite database",
    "folder": "is a folder",
    "another application's database": "another application's SQLite database",
    "file in place of the folder": "its folder cannot be created",
}


@pytest.mark.parametrize("kind", list(BAD))
def test_every_command_refuses_a_bad_path_in_one_line(
    tmp_path: Path, kind: str, cli_main: InProcess
) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / ("nested/db.sqlite3" if kind == "file in place of the folder" else "db")
    make_bad(kind, path)
    before = snapshot(folder)
    for args in COMMANDS:
        line = one_error_line(cli_main(*args, database=path, env={"WORKERS": "1"}))
        assert BAD[kind] in line and str(path) in line, (args, line)
    assert snapshot(folder) == before  # byte-identical, and no -wal or -shm beside it


def can_mount_read_only(folder: Path) -> bool:
    probe = ["unshare", "-rm", "sh", "-c", 'mount --bind -o ro "$0" "$0"', str(folder)]
    try:
        return subprocess.run(probe, capture_output=True, check=False, timeout=30).returncode == 0
    except FileNotFoundError:
        return False


async def seed(path: Path) -> None:
    async with Database(path) as db:
        await db.users.allow(42, None)
        digest = hashlib.sha256(b"song").hexdigest()
        track_id = await db.tracks.add(digest, "Song", artist="Band", duration=61.0)
        await db.embeddings.put(track_id, "some-model", np.ones(4))


def test_reading_commands_work_on_a_read_only_mount(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    if not can_mount_read_only(folder):
        pytest.skip("no user namespaces here: `unshare -rm` cannot bind-mount read-only")
    path = folder / "soundalike.sqlite3"
    asyncio.run(seed(path))
    path.chmod(0o444)
    folder.chmod(0o555)
    before = snapshot(folder)
    assert sorted(before) == ["soundalike.sqlite3"]  # WAL mode, closed cleanly: no -wal/-shm

    listed = cli(path, "users", "list", read_only_folder=folder)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split("\t")[0] == "42"
    stats = cli(path, "catalog", "stats", read_only_folder=folder)
    assert stats.returncode == 0, stats.stderr
    assert "tracks: 1" in stats.stdout.splitlines()
    tracks = cli(path, "catalog", "list", read_only_folder=folder)
    assert tracks.returncode == 0 and "Band — Song" in tracks.stdout, tracks

    for args in [("users", "allow", "5"), ("users", "deny", "42"), ("catalog", "remove", "1")]:
        line = one_error_line(cli(path, *args, read_only_folder=folder))
        assert "read-only" in line and str(path) in line, line
    missing = folder / "missing.sqlite3"
    line = one_error_line(cli(missing, "users", "list", read_only_folder=folder))
    assert "no Soundalike database yet" in line and str(missing) in line, line
    assert snapshot(folder) == before


def test_an_old_file_on_a_read_only_mount_asks_for_a_writing_command(
    tmp_path: Path, cli_main: InProcess
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    if not can_mount_read_only(folder):
        pytest.skip("no user namespaces here: `unshare -rm` cannot bind-mount read-only")
    path = folder / "old.sqlite3"

    async def build() -> None:
        async with aiosqlite.connect(path, isolation_level=None) as conn:
            await migrate(conn, MIGRATIONS[:3])

    asyncio.run(build())
    before = snapshot(folder)
    line = one_error_line(cli(path, "catalog", "stats", read_only_folder=folder))
    assert "run a writing command" in line, line
    assert snapshot(folder) == before
    assert cli_main("catalog", "stats", database=path).returncode == 0  # writable: it migrates


def test_recommend_reads_a_read_only_mount(tmp_path: Path, music_file: Path) -> None:
    """Read-only, recommend skips adopting pre-versioning vectors (a rename: a write)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if not can_mount_read_only(folder):
        pytest.skip("no user namespaces here: `unshare -rm` cannot bind-mount read-only")
    path = folder / "soundalike.sqlite3"
    asyncio.run(seed(path))
    before = snapshot(folder)
    result = cli(path, "recommend", str(music_file), read_only_folder=folder)
    assert result.returncode == 1, result.stderr
    assert "the catalog has no tracks indexed with fusion:aisfx+msd-vgg/pool5@" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(folder) == before
