"""The Ray backend against a two-node Ray cluster on this machine (tests/support/ray_cluster.py),
started once for the module: the same vectors as the local pool, the same error types, bounded
in-flight work, lost actors' tracks retried, NoWorkersError when none is left, and actors that
fetch audio themselves. Skipped without the optional `ray` (requirements-ray.txt)."""

import asyncio
import os
import signal
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import pytest_asyncio
from audio_factory import encode, synth_music
from ray_cluster import RayCluster, running_cluster  # sets Ray's token before ray is imported

pytest.importorskip("ray", reason="the optional Ray backend: pip install -r requirements-ray.txt")

from core.embedding_service import EmbeddingService
from core.errors import NotAudioError, NoWorkersError, SilentError, TooShortError
from core.fetching import FetchLimits
from core.hashing import sha256_of
from core.models import DEFAULT_MODEL, parse_model_spec
from core.ray_embedding import FetchError, RayEmbeddingService

in_module_loop = pytest.mark.asyncio(loop_scope="module")
MFCC = parse_model_spec("mfcc")  # no TensorFlow: actors start in a second
LIMITS = FetchLimits(max_bytes=10 << 20, timeout=10)


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    with running_cluster() as started:
        yield started


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(cluster: RayCluster) -> AsyncIterator[RayEmbeddingService]:
    async with RayEmbeddingService(
        MFCC, workers=2, address=cluster.address, replacement_wait=2.0
    ) as started:
        yield started


@pytest.fixture(scope="module")
def tracks(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("tracks")
    return [encode(synth_music(6.0, seed=s), folder / f"{s}.mp3") for s in range(8)]


async def wait_for_actors(service: RayEmbeddingService, count: int, seconds: float = 60) -> None:
    async with asyncio.timeout(seconds):
        while len(service.worker_pids()) < count:
            await asyncio.sleep(0.1)


@in_module_loop
async def test_default_model_gives_the_local_pools_vectors(
    cluster: RayCluster, tmp_path: Path
) -> None:
    files = [encode(synth_music(8.0, seed=s), tmp_path / f"{s}.mp3") for s in range(2)]
    spec = parse_model_spec(DEFAULT_MODEL)
    async with RayEmbeddingService(spec, workers=1, address=cluster.address) as remote:
        on_ray = [await remote.embed(f) for f in files]
    async with EmbeddingService(spec, workers=1) as local:
        on_pool = [await local.embed(f) for f in files]
    for ray_one, pool_one in zip(on_ray, on_pool, strict=True):
        assert ray_one.model_id == pool_one.model_id == spec.model_id
        # not bit-identical: Ray runs actors with OMP_NUM_THREADS=1 (another summation order)
        np.testing.assert_allclose(ray_one.vector, pool_one.vector, atol=1e-5)
        np.testing.assert_allclose(ray_one.tag_probabilities, pool_one.tag_probabilities, atol=1e-5)
        assert ray_one.top_tags(3)[0][0] == pool_one.top_tags(3)[0][0]
        assert ray_one.patch_count == pool_one.patch_count


@in_module_loop
async def test_actors_on_both_nodes_and_bad_input_keeps_its_error_type(
    service: RayEmbeddingService, tracks: list[Path], tmp_path: Path, cluster: RayCluster
) -> None:
    assert service.nodes() == {cluster.node_id("head"), cluster.node_id("node2")}
    assert os.getpid() not in service.worker_pids()
    bad = tmp_path / "bad.mp3"
    bad.write_text("not audio at all")
    short = encode(synth_music(1.0, seed=1), tmp_path / "short.mp3")
    silent = encode(np.zeros(44100 * 6, dtype=np.float32), tmp_path / "silent.mp3")
    results = await asyncio.gather(
        *(service.embed(p) for p in [tracks[0], bad, short, silent]), return_exceptions=True
    )
    assert results[0].model_id == MFCC.model_id  # type: ignore[union-attr]
    assert isinstance(results[1], NotAudioError) and "not audio" in results[1].reason
    assert isinstance(results[2], TooShortError)
    assert isinstance(results[3], SilentError)
    local = await asyncio.to_thread(_embed_here, tracks[0])
    np.testing.assert_allclose(results[0].vector, local, atol=1e-6)  # type: ignore[union-attr]


def _embed_here(path: Path) -> np.ndarray:
    from core.embedding import embed_file

    return embed_file(path, MFCC.load()).vector


@in_module_loop
async def test_in_flight_tracks_are_bounded(
    service: RayEmbeddingService, tracks: list[Path]
) -> None:
    most = 0

    async def watch() -> None:
        nonlocal most
        while True:
            most = max(most, service._slots.used)
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    results = await asyncio.gather(*(service.embed(p) for p in tracks * 3))
    watcher.cancel()
    assert len(results) == 24
    assert most == 2 * 2  # IN_FLIGHT_PER_ACTOR × actors, never more


@in_module_loop
async def test_a_killed_actor_loses_no_track_and_is_replaced(
    service: RayEmbeddingService, tracks: list[Path]
) -> None:
    restarts = service.restarts
    victim = min(service.worker_pids())
    batch = [asyncio.create_task(service.embed(p)) for p in tracks * 2]
    await asyncio.sleep(0.2)  # some tracks are on the victim now
    os.kill(victim, signal.SIGKILL)
    results = await asyncio.gather(*batch)
    assert [r.model_id for r in results] == [MFCC.model_id] * 16
    await wait_for_actors(service, 2)
    assert victim not in service.worker_pids()
    assert service.restarts == restarts + 1


@in_module_loop
async def test_no_worker_left_is_its_own_error_and_the_service_recovers(
    service: RayEmbeddingService, tracks: list[Path]
) -> None:
    await wait_for_actors(service, 2)
    for pid in service.worker_pids():
        os.kill(pid, signal.SIGKILL)
    with pytest.raises(NoWorkersError, match="no embedding worker"):
        await service.embed(tracks[0])
    await wait_for_actors(service, 2)  # the replacements came up on the free CPUs
    assert (await service.embed(tracks[1])).model_id == MFCC.model_id


class _Files(BaseHTTPRequestHandler):
    files: ClassVar[dict[str, bytes]] = {}

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/busy":
            self.send_error(503)
            return
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@in_module_loop
async def test_an_actor_fetches_and_embeds_a_url_itself(
    service: RayEmbeddingService, tracks: list[Path]
) -> None:
    _Files.files = {"/a.mp3": tracks[2].read_bytes()}
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        fetched = await service.embed_url(f"{base}/a.mp3", limits=LIMITS)
        assert fetched.sha256 == sha256_of(tracks[2])
        assert fetched.size == tracks[2].stat().st_size
        direct = await service.embed(tracks[2])
        np.testing.assert_array_equal(fetched.embedding.vector, direct.vector)
        with pytest.raises(FetchError) as missing:
            await service.embed_url(f"{base}/gone.mp3", limits=LIMITS)
        assert (missing.value.status, missing.value.transient) == (404, False)
        with pytest.raises(FetchError) as busy:
            await service.embed_url(f"{base}/busy", limits=LIMITS)
        assert (busy.value.status, busy.value.transient) == (503, True)
        with pytest.raises(FetchError, match="larger than"):
            await service.embed_url(f"{base}/a.mp3", limits=FetchLimits(max_bytes=1000))
    finally:
        server.shutdown()
        server.server_close()
