"""How core.ray_embedding connects: a Ray Client server that fails to start on the head (it
happens by chance; CI saw gRPC's fork check kill one) costs a new attempt, not the command.

`ray.init` is replaced here to fail on purpose: the real connections, good and bad, are
tests/core/test_ray_embedding.py's and tests/bot/test_ray_bot.py's, on a real cluster."""

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from ray_cluster import TOKEN  # noqa: F401  (sets Ray's token before ray is imported)

ray = pytest.importorskip(
    "ray", reason="the optional Ray backend: pip install -r requirements-ray.txt"
)

from core import ray_embedding  # noqa: E402
from core.errors import RayUnavailableError  # noqa: E402

SERVER_FAILED = "Initialization failure from server:\nStarting Ray client server failed."


@pytest.fixture
def listening() -> Iterator[int]:
    """A port something answers on, for the reachability check before `ray.init`."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield int(server.getsockname()[1])


def failing_init(monkeypatch: pytest.MonkeyPatch, failures: int, error: Exception) -> list[str]:
    """`ray.init` raising `error` `failures` times, then connecting; the addresses it got."""
    if ray.is_initialized():
        pytest.skip("this process is connected to a Ray cluster already")
    calls: list[str] = []

    def init(**kwargs: Any) -> None:
        calls.append(kwargs["address"])
        if len(calls) <= failures:
            raise error

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setattr(ray_embedding, "CLIENT_INIT_PAUSE_SECONDS", 0.0)
    return calls


def test_a_client_server_that_failed_to_start_is_tried_again(
    monkeypatch: pytest.MonkeyPatch, listening: int
) -> None:
    calls = failing_init(monkeypatch, 2, ConnectionAbortedError(SERVER_FAILED))
    assert ray_embedding._connect(f"ray://127.0.0.1:{listening}") is True
    assert len(calls) == 3


def test_it_gives_up_after_the_last_attempt_in_one_line(
    monkeypatch: pytest.MonkeyPatch, listening: int
) -> None:
    calls = failing_init(monkeypatch, 99, ConnectionAbortedError(SERVER_FAILED))
    with pytest.raises(RayUnavailableError, match="cannot connect to the Ray cluster"):
        ray_embedding._connect(f"ray://127.0.0.1:{listening}")
    assert len(calls) == ray_embedding.CLIENT_INIT_ATTEMPTS


@pytest.mark.parametrize(
    ("scheme", "error"),
    [
        ("", ConnectionAbortedError(SERVER_FAILED)),  # a plain HOST:PORT starts no client server
        ("ray://", ConnectionError("connection refused")),  # anything else is not chance
    ],
)
def test_other_failures_are_not_retried(
    monkeypatch: pytest.MonkeyPatch, listening: int, scheme: str, error: Exception
) -> None:
    calls = failing_init(monkeypatch, 99, error)
    with pytest.raises(RayUnavailableError):
        ray_embedding._connect(f"{scheme}127.0.0.1:{listening}")
    assert len(calls) == 1
