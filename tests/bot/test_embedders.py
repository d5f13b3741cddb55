"""Choosing the embedding backend from the settings (catalog/embedders.py, given the settings'
`backend`), without a cluster: the
local pool by default with Ray never imported, RAY_ADDRESS checked at start-up, a clear refusal
when ray is not installed, and the Ray token never shown."""

import importlib.util
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_process import run_bot

from bot.cli import main as cli
from bot.config import ConfigError, load_bot_settings, load_settings
from catalog.embedders import make_embedder
from core.embedding_service import EmbeddingService
from core.ray_embedding import RayEmbeddingService

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "0123456789abcdef" * 4


def import_on_ray(home: Path, port: int, **settings: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot import HOME` against a Ray address on 127.0.0.1:`port`, with none of this
    machine's RAY_ settings and HOME as `home` (so no token file is found), plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env |= {
        "HOME": str(home),
        "RAY_ADDRESS": f"127.0.0.1:{port}",
        "MODEL": "mfcc",
        "DATABASE_PATH": str(home / "c.sqlite3"),
        **settings,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", "import", str(home)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_ray_address_the_local_pool_is_used_and_ray_never_imported() -> None:
    code = (
        "import sys\n"
        "from bot import app\n"
        "from bot.cli import main\n"
        "from catalog import embedders\n"
        "from catalog.yandex import importer\n"
        "from bot.config import load_settings\n"
        "settings = load_settings({})\n"
        "service = embedders.make_embedder(settings.backend, settings.model, 1)\n"
        "assert type(service).__name__ == 'EmbeddingService', service\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("address", ["auto", "ray://head:10001", "10.0.0.5:6379", "[::1]:6379"])
def test_ray_address_forms(address: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "environ", dict(os.environ))  # make_embedder sets RAY_AUTH_MODE
    settings = load_settings({"RAY_ADDRESS": address})
    assert settings.ray_address == address
    if importlib.util.find_spec("ray") is not None:
        service = make_embedder(settings.backend, settings.model, None)
        assert isinstance(service, RayEmbeddingService) and service.address == address
    assert isinstance(make_embedder(load_settings({}).backend, settings.model, 1), EmbeddingService)


@pytest.mark.parametrize("address", ["head", "http://head:8265", "ray://head", "a b:1"])
def test_a_malformed_ray_address_is_refused(address: str) -> None:
    with pytest.raises(ConfigError, match="RAY_ADDRESS must be auto, ray://HOST:PORT or HOST:PORT"):
        load_settings({"RAY_ADDRESS": address})


def test_the_ray_token_is_never_shown() -> None:
    values = {
        "RAY_ADDRESS": "auto",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": TOKEN,
        "BOT_TOKEN": "123456:" + "A" * 35,
    }
    assert TOKEN not in repr(load_settings(values))
    assert TOKEN not in repr(load_bot_settings(values))
    assert dict(load_settings(values).ray_auth) == {
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": TOKEN,
    }


def test_ray_address_without_ray_installed_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a)
    )
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    monkeypatch.setenv("RAY_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "c.sqlite3"))
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    assert cli.main(["import", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: RAY_ADDRESS is set (ray://head:10001)")
    assert "pip install -r requirements-ray.txt" in err and TOKEN not in err


async def test_the_ray_service_refuses_work_before_start(tmp_path: Path) -> None:
    track = tmp_path / "t.mp3"
    track.write_bytes(b"x")
    service = RayEmbeddingService(load_settings({}).model, workers=1, address="auto")
    with pytest.raises(RuntimeError, match="start"):
        await service.embed(track)
    await service.close()  # closing an unstarted service is harmless (and imports no Ray)


def test_a_cluster_that_does_not_answer_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port with nothing behind it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    done = run_bot(
        "import",
        str(tmp_path),
        database=tmp_path / "c.sqlite3",
        env={"RAY_ADDRESS": f"127.0.0.1:{port}", "MODEL": "mfcc"},
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.stderr
    assert time.monotonic() - started < 60  # not Ray's minutes of retries


def test_token_authentication_is_on_by_default_on_ray(tmp_path: Path) -> None:
    """RAY_ADDRESS without a token is refused before anything connects (no token file in HOME)."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("the optional Ray backend is not installed")
    with socket.socket() as listener:  # something answers: the refusal is about the token
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        done = import_on_ray(tmp_path, listener.getsockname()[1])
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "no authentication token was found" in done.stderr
    assert "set RAY_AUTH_TOKEN" in done.stderr


@pytest.mark.parametrize("mode", ["token", "disabled", "TOKEN"])
def test_ray_auth_modes_that_ray_knows_are_accepted(mode: str) -> None:
    settings = load_settings({"RAY_ADDRESS": "auto", "RAY_AUTH_MODE": mode})
    assert dict(settings.ray_auth) == {"RAY_AUTH_MODE": mode}


def test_an_unknown_ray_auth_mode_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """Ray reads RAY_AUTH_MODE=nonsense as `disabled`: the import went on to connect without a
    token. Now it stops before anything starts or connects, naming the setting."""
    with socket.socket() as listener:  # something answers at RAY_ADDRESS
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        done = import_on_ray(
            tmp_path,
            listener.getsockname()[1],
            RAY_AUTH_MODE="nonsense",
            RAY_AUTH_TOKEN=TOKEN,
        )
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        "error: RAY_AUTH_MODE must be token or disabled (unset: token), not 'nonsense'\n"
    )
    assert done.stdout == "" and not (tmp_path / "c.sqlite3").exists()
