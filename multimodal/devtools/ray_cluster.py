"""A real two-node Ray cluster on this machine: `ray start --head` plus a second `ray start --address=...`.

Each node is its own `ray start --block` process in a session of its own, with one CPU, free ports and a
private temp folder, so a test can kill -9 every process of the second node (`kill_worker_node`) and the
teardown ends exactly what it started (never `ray stop`, which would end other clusters on the machine).
Workers import this checkout's `multimodal` (PYTHONPATH), usage stats are off, no dashboard. The tests'
`ray_cluster` fixture (tests/fixtures/ray_cluster.py) and `benchmarks/scale.py --ray` start it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

from multimodal.devtools.processes import cli_env, executable, free_port

START_TIMEOUT = 180.0  # seconds for a node to join, on a busy 2-core box (load 7-9 seen)
REPO = Path(__file__).resolve().parents[2]


def ray_executable() -> str:
    """The `ray` CLI next to this Python (the venv's), else the one on PATH."""
    return executable("ray", "pip install 'multimodal[ray]'")


def ray_env(token: str) -> dict[str, str]:
    """The environment of the nodes and of drivers that join them (Ray 2.60 turns token auth on by default)."""
    env = {k: v for k, v in cli_env().items() if not k.startswith("RAY_")}
    return {
        **env,
        "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": token,
        # A killed node is declared dead after ~3 s instead of the default ~30 s.
        "RAY_health_check_period_ms": "1000",
        "RAY_health_check_failure_threshold": "3",
        "RAY_health_check_timeout_ms": "1000",
        "RAY_agent_register_timeout_ms": "120000",  # agents start slowly on a loaded box
        # Ray starts its workers 15 steps nicer than their node by default; here they compete for the same
        # cores as the plain ingest they are compared with (benchmarks/scale.py), so they keep the node's.
        "RAY_worker_niceness": "0",
    }


class RayCluster:
    """A head node and one worker node, one CPU each."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = ray_env(secrets.token_hex(16))  # pass to a driver (the CLI) that joins this cluster
        self.head: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None

    def start(self, nodes: int = 2) -> None:
        self.head = self._node("head", ["--head", "--port", str(self.port), "--temp-dir", str(self.tmp / "t")])
        self._wait_for_cpus(1)
        if nodes > 1:
            self.start_worker_node()

    def start_worker_node(self) -> None:
        self.worker = self._node("worker", [f"--address={self.address}"])
        self._wait_for_cpus(2)

    def kill_worker_node(self) -> int:
        """kill -9 every process of the second node (its raylet, agents and worker processes, which Ray starts
        in process groups of their own, so they are found as descendants); how many processes were killed."""
        assert self.worker is not None
        procs = _descendants(self.worker.pid)
        _killpg(self.worker, signal.SIGKILL)
        _kill_all(procs)
        self.worker = None
        return len(procs)

    def stop(self) -> None:
        for proc in (self.worker, self.head):
            if proc is not None:
                children = _descendants(proc.pid)
                _killpg(proc, signal.SIGTERM)
                time.sleep(0.5)
                _killpg(proc, signal.SIGKILL)
                _kill_all(children)
        self.worker = self.head = None

    def _node(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        flags = ["dashboard-agent-listen-port", "dashboard-agent-grpc-port", "runtime-env-agent-port",
                 "metrics-export-port", "node-manager-port", "object-manager-port"]
        head = ["--include-dashboard=false", "--disable-usage-stats"] if "--head" in args else []
        if head:
            flags.append("ray-client-server-port")
        ports = [f"--{flag}={port}" for flag, port in zip(flags, _distinct_ports(len(flags)), strict=True)]
        log = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - the node keeps it for its lifetime
        return subprocess.Popen(
            [ray_executable(), "start", "--block", "--num-cpus", "1", "--num-gpus", "0",
             "--node-ip-address=127.0.0.1", *head, *ports, *args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env, start_new_session=True,
        )

    def _wait_for_cpus(self, cpus: int) -> None:
        """Wait until the cluster reports `cpus` CPUs (asked through `ray status`, a separate process)."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for proc in (self.head, self.worker):
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"a ray node exited with {proc.returncode}:\n{self.logs()}")
            try:
                done = subprocess.run([ray_executable(), "status", f"--address={self.address}"],
                                      capture_output=True, text=True, env=self.env, timeout=60)
            except subprocess.TimeoutExpired:  # a node still starting on a busy box: ask again
                continue
            if done.returncode == 0 and f"/{cpus}.0 CPU" in done.stdout:
                return
            time.sleep(1.0)
        self.stop()
        raise RuntimeError(f"the Ray cluster did not reach {cpus} CPUs in {START_TIMEOUT}s:\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-1500:] for p in sorted(self.tmp.glob("*.log")))


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc), found before any is killed."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = [], [pid]
    while frontier:
        kids = [p for p, parent in parents.items() if parent in frontier]
        found += kids
        frontier = kids
    return found


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _distinct_ports(n: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < n:
        ports.add(free_port())
    return sorted(ports)


def _killpg(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    if sig == signal.SIGKILL:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
