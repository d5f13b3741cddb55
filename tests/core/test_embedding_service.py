"""The embedding service: real spawned worker processes with the real model."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from audio_factory import encode, synth_music

from core.embedding import embed_file
from core.embedding_service import EmbeddingService, WorkerCrashedError
from core.errors import NotAudioError
from core.models import DEFAULT_MODEL, parse_model_spec
from core.models.base import AudioModel


async def test_workers_embed_concurrently_and_agree_with_in_process(
    tmp_path: Path, vgg_model: AudioModel
) -> None:
    files = [encode(synth_music(8.0, seed=s), tmp_path / f"{s}.mp3") for s in range(3)]
    bad = tmp_path / "bad.mp3"
    bad.write_text("not audio")
    async with EmbeddingService(parse_model_spec("msd-vgg/pool5"), workers=2) as service:
        assert service.model_id == "msd-vgg/pool5@fe1"
        results = await asyncio.gather(
            *(service.embed(f) for f in [*files, bad]), return_exceptions=True
        )
        pids = {p.pid for p in service._pool._processes.values()}  # type: ignore[union-attr]
    assert isinstance(results[3], NotAudioError)
    assert "not audio" in results[3].reason
    for path, remote in zip(files, results[:3], strict=True):
        local = embed_file(path, vgg_model)
        np.testing.assert_allclose(remote.vector, local.vector, atol=1e-5)
    assert len(pids) == 2 and os.getpid() not in pids


async def test_embed_before_start_is_an_error(tmp_path: Path) -> None:
    service = EmbeddingService(parse_model_spec(DEFAULT_MODEL), workers=1)
    with pytest.raises(RuntimeError, match="start"):
        await service.embed(tmp_path / "x.mp3")
    await service.close()  # closing an unstarted service is harmless


# --- crashes and kills: real workers, killed for real -----------------------------------------

ROOT = Path(__file__).resolve().parents[2]

# A process that starts two workers and keeps them busy until it is killed.
BUSY_SERVICE = """
import asyncio, sys
from pathlib import Path
from core.embedding_service import EmbeddingService
from core.models import parse_model_spec

async def main() -> None:
    async with EmbeddingService(parse_model_spec("mfcc"), workers=2) as service:
        print("ready", flush=True)
        while True:
            await asyncio.gather(*(service.embed(Path(sys.argv[1])) for _ in range(4)))

if __name__ == "__main__":
    asyncio.run(main())
"""


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat after the command name (state first), or None once the pid is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def children_of(parent: int) -> set[int]:
    """Pids whose parent is `parent`, by a walk of /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == parent:
                found.add(int(entry.name))
    return found


def running(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie (a zombie holds no memory any more)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def test_workers_exit_when_their_parent_is_killed(music_file: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", BUSY_SERVICE, str(music_file)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    workers: set[int] = set()
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        workers = children_of(process.pid)
        assert len(workers) >= 2  # the two workers (and multiprocessing's resource tracker)
        process.kill()
        process.wait()
        killed = time.monotonic()
        while any(running(pid) for pid in workers) and time.monotonic() - killed < 10:
            time.sleep(0.05)
        gone_after = time.monotonic() - killed
        survivors = [pid for pid in workers if running(pid)]
        print(f"\nworkers gone {gone_after:.2f} s after kill -9 of their parent")
        assert not survivors, f"still running {gone_after:.0f} s after the kill: {survivors}"
    finally:
        process.kill()
        for pid in workers:  # only the processes this test started
            if running(pid):
                os.kill(pid, signal.SIGKILL)


async def wait_for(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_killed_worker_costs_one_restart_and_no_track(tmp_path: Path) -> None:
    files = [encode(synth_music(60.0, seed=s), tmp_path / f"{s}.mp3") for s in range(6)]
    async with EmbeddingService(parse_model_spec("mfcc"), workers=2) as service:
        tasks = [asyncio.create_task(service.embed(f)) for f in files]
        await asyncio.sleep(0)  # each task has run up to its submit: six tracks are in flight
        assert not any(task.done() for task in tasks)  # a 60 s track takes far longer to embed
        os.kill(min(service.worker_pids()), signal.SIGKILL)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        print(f"\none worker killed with 6 tracks in flight: restarts={service.restarts}")
        assert [type(result).__name__ for result in results] == ["TrackEmbedding"] * 6
        assert service.restarts == 1


async def test_a_track_that_crashes_its_worker_again_fails_alone(tmp_path: Path) -> None:
    # No honest file crashes a worker on demand, so the worker is killed twice while this one
    # track is in flight: on the first pool, then again on the pool it is retried on.
    path = encode(synth_music(60.0), tmp_path / "a.mp3")
    async with EmbeddingService(parse_model_spec("mfcc"), workers=1) as service:
        first_pool = service.worker_pids()
        task = asyncio.create_task(service.embed(path))
        await asyncio.sleep(0)  # submitted: the kill lands while it is in flight, never after
        os.kill(first_pool.pop(), signal.SIGKILL)
        await wait_for(lambda: service.restarts == 1 and bool(service.worker_pids()))
        assert not task.done()  # being retried
        os.kill(service.worker_pids().pop(), signal.SIGKILL)
        with pytest.raises(WorkerCrashedError):
            await task
        print(f"\none track crashing its worker twice: restarts={service.restarts}")
        assert service.restarts == 2
        assert (await service.embed(path)).patch_count > 0  # the service works on


@pytest.mark.parametrize("spec", [DEFAULT_MODEL, "seed-random:3"])
async def test_workers_leave_nothing_in_tmpdir_even_when_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: str
) -> None:
    """Every TensorFlow model (aisfx, msd-vgg, seed) embeds a track in a worker, which is then
    killed, as a kill -9 of the bot kills its workers: TMPDIR is left as it was. AutoGraph used
    to write `__autograph_generated_file*.py` there, removed only at a clean exit."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))  # the spawned workers' temporary folder
    track = encode(synth_music(12.0), tmp_path / "a.mp3")
    async with EmbeddingService(parse_model_spec(spec), workers=1) as service:
        assert (await service.embed(track)).patch_count > 0
        written = sorted(p.name for p in folder.iterdir())
        for pid in service.worker_pids():
            os.kill(pid, signal.SIGKILL)
        await wait_for(lambda: not any(running(pid) for pid in service.worker_pids()))
    assert sorted(p.name for p in folder.iterdir()) == []  # nothing left after the kill
    assert written == []  # nor written while it ran
