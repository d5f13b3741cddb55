"""`python -m bot users allow|deny|list`: the whitelist from the terminal, on a real file (the
command runs in this process: cli_process.InProcess)."""

from pathlib import Path

from cli_process import Finished, InProcess


def test_allow_list_and_deny(tmp_path: Path, cli_main: InProcess) -> None:
    def users(database: Path, *args: str) -> Finished:
        return cli_main("users", *args, database=database)

    database = tmp_path / "bot.sqlite3"
    assert users(database, "list").stdout == ""
    assert users(database, "allow", "42").stdout == "allowed 42\n"
    assert users(database, "allow", "7").returncode == 0
    listed = users(database, "list").stdout.splitlines()
    assert [line.split("\t")[0] for line in listed] == ["42", "7"]
    assert listed[0].split("\t")[2] == "user"
    assert users(database, "deny", "42").stdout == "denied 42\n"
    again = users(database, "deny", "42")
    assert again.returncode == 1 and "was not on the whitelist" in again.stderr
    assert [line.split("\t")[0] for line in users(database, "list").stdout.splitlines()] == ["7"]
    bad = users(database, "allow", "bob")
    assert bad.returncode == 2 and "invalid int value" in bad.stderr
    for typed in ("²", "١٢٣", "99999999999999999999", "0", "-1"):
        refused = users(database, "allow", typed)
        assert refused.returncode == 2 and "invalid int value" in refused.stderr, typed
        assert "Traceback" not in refused.stderr
