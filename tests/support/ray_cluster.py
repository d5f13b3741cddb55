"""A real Ray cluster on this machine for the Ray tests: a head and a second node started with
`ray start` (one CPU each, token authentication on, a private temp dir), shared by a test
module, and every process of it killed at the end — found by a marker in their environment, so
workers re-parented after a killed raylet are found too. `ray stop` is not used: it would stop
every Ray process of this user on the machine.

Node failure is detected in about two seconds (Ray's default is tens of seconds) so that the
fault tests stay short.

Ray reads its token settings from the environment once, when it is imported: importing this
module sets them for the whole test session, so it must be imported before `ray`.
"""

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))
MARKER = "SOUNDALIKE_RAY_TEST"
OBJECT_STORE_BYTES = 150 * 1024 * 1024
TOKEN = secrets.token_hex(32)
os.environ["RAY_AUTH_MODE"] = "token"
os.environ["RAY_AUTH_TOKEN"] = TOKEN
# as catalog/embedders.py does: a test run started under `uv run` must not make the cluster start
# its workers or its Ray Client server through uv (the uv hook reads the parent processes)
os.environ["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] = "0"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RayCluster:
    """`start()` the head and "node2"; `address` for RAY_ADDRESS; `env` for processes that
    join it (the token included); `kill_node`/`start_node` for the fault tests; `stop()`."""

    def __init__(self) -> None:
        # short: Ray's unix socket paths live under it
        self.folder = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.client_port = free_port()  # Ray Client (ray://), for drivers on machines without Ray
        self.token = TOKEN
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": self.token,
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_health_check_period_ms": "500",
            "RAY_health_check_timeout_ms": "1000",
            "RAY_health_check_failure_threshold": "4",
            MARKER: str(self.folder),
        }
        self._nodes: dict[str, Path] = {}
        self._orphans: set[int] = set()  # the killed nodes' processes that outlive their raylet

    def _ray_start(self, name: str, *arguments: str) -> None:
        temp = self.folder / f"{name}-{len(list(self.folder.iterdir()))}"
        temp.mkdir()
        command = [
            RAY,
            "start",
            *arguments,
            "--node-ip-address=127.0.0.1",
            "--num-cpus=1",
            f"--object-store-memory={OBJECT_STORE_BYTES}",
            f"--temp-dir={temp}",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--metrics-export-port={free_port()}",
            "--disable-usage-stats",
        ]
        done = subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"ray start {name} failed:\n{done.stdout}\n{done.stderr}")
        self._nodes[name] = temp

    def start(self, nodes: int = 2) -> "RayCluster":
        """The head, and "node2" unless `nodes` is 1."""
        self._ray_start(
            "head",
            "--head",
            f"--port={self.port}",
            f"--ray-client-server-port={self.client_port}",
            f"--dashboard-port={free_port()}",
            "--include-dashboard=false",
        )
        if nodes > 1:
            self.start_node("node2")
        return self

    def start_node(self, name: str) -> None:
        self._ray_start(name, f"--address={self.address}")

    def logs(self, pattern: str, tail: int = 4000) -> str:
        """The ends of the cluster's log files matching `pattern` (for failure messages)."""
        found = sorted(self.folder.glob(f"*/session_*/logs/{pattern}"))
        return "\n".join(f"--- {f.name}\n{f.read_text(errors='replace')[-tail:]}" for f in found)

    def raylet_pid(self, name: str) -> int:
        for pid, command in _processes():
            if "raylet/raylet" in command and f"{self._nodes[name]}/" in command:
                return pid
        raise LookupError(f"no raylet for {name}")

    def node_id(self, name: str) -> str:
        """The Ray node id of `name` (the driver must be connected)."""
        import ray

        for node in ray.nodes():
            if node["Alive"] and str(self._nodes[name]) in node.get("RayletSocketName", ""):
                return str(node["NodeID"])
        raise LookupError(f"{name} is not an alive node")

    def kill_node(self, name: str) -> None:
        """kill -9 the node's raylet: the node and its workers die, as when a machine is lost."""
        raylet = self.raylet_pid(name)
        self._orphans |= _descendants({raylet}) - {raylet}
        os.kill(raylet, signal.SIGKILL)

    def pids(self) -> set[int]:
        """Every live process of this cluster: marked in its environment, or a descendant of
        one (Ray's agents start with an environment of their own)."""
        found = set()
        needle = f"{MARKER}={self.folder}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.add(int(entry.name))
        return {pid for pid in _descendants(found) | self._orphans if _alive(pid)}

    def stop(self) -> None:
        """Kill every process of the cluster, wait until they are gone, remove the temp dirs."""
        deadline = time.monotonic() + 30
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        shutil.rmtree(self.folder, ignore_errors=True)
        if pids:
            raise RuntimeError(f"Ray processes survived: {sorted(pids)}")


def _parents() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    return parents


def _descendants(roots: set[int]) -> set[int]:
    """`roots` and every process below them."""
    parents = _parents()
    found = set(roots)
    while True:
        more = {pid for pid, parent in parents.items() if parent in found} - found
        if not more:
            return found
        found |= more


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _processes() -> Iterator[tuple[int, str]]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                yield (
                    int(entry.name),
                    (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(),
                )


@contextlib.contextmanager
def running_cluster(nodes: int = 2) -> Iterator[RayCluster]:
    """A started cluster (two nodes by default) with this process connected as its driver (the
    token in the environment, as Ray reads it); everything stopped and disconnected afterwards."""
    import ray

    cluster = RayCluster()
    try:
        cluster.start(nodes)
        ray.init(
            address=cluster.address,
            namespace="soundalike",
            log_to_driver=False,
            configure_logging=False,
            logging_level="WARNING",
        )
        yield cluster
    finally:
        with contextlib.suppress(Exception):
            ray.shutdown()
        cluster.stop()
