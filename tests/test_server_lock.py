"""The cross-machine ingest lease on a real Chroma server (multimodal.locking.ServerLease)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from multimodal.config import Settings
from multimodal.errors import IndexBusyError
from multimodal.locking import ServerLease
from multimodal.store import Store
from tests.fixtures.processes import cli_env

pytestmark = pytest.mark.server
ROOT = Path("/photos")


def test_racing_clients_get_exactly_one_lease(server_settings: Settings) -> None:
    leases = [ServerLease(Store.open(server_settings), ROOT, None) for _ in range(6)]
    start = threading.Barrier(len(leases))
    won: list[ServerLease] = []
    refused: list[str] = []

    def take(lease: ServerLease) -> None:
        start.wait()
        try:
            lease.acquire()
            won.append(lease)
        except IndexBusyError as e:
            refused.append(str(e))

    threads = [threading.Thread(target=take, args=(lease,)) for lease in leases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    assert len(refused) == 5 and all("another ingest" in m and str(ROOT) in m for m in refused)
    won[0].release()
    after = ServerLease(Store.open(server_settings), ROOT, None)
    after.acquire()  # released: free again
    after.release()


def test_shards_of_one_folder_hold_separate_leases(server_settings: Settings) -> None:
    store = Store.open(server_settings)
    first, second = ServerLease(store, ROOT, "0/2"), ServerLease(store, ROOT, "1/2")
    first.acquire()
    second.acquire()  # the other shard runs in parallel
    with pytest.raises(IndexBusyError, match=r"shard 0/2"):
        ServerLease(store, ROOT, "0/2").acquire()
    first.release()
    second.release()


def test_a_released_lease_leaves_one_marker_and_the_generation_moves_on(server_settings: Settings) -> None:
    store = Store.open(server_settings)
    generations = []
    for _ in range(3):
        lease = ServerLease(store, ROOT, None)
        lease.acquire()
        generations.append(lease.generation)
        lease.release()
    assert generations == sorted(set(generations))
    assert list(store.markers(lease.prefix)) == [lease._name(generations[-1])]


def test_a_lapsed_lease_of_another_host_is_taken_over(server_settings: Settings) -> None:
    store = Store.open(server_settings)
    probe = ServerLease(store, ROOT, None)
    stale = {"owner": "elsewhere:1:x", "host": "elsewhere", "pid": 1, "what": str(ROOT),
             "expires": time.time() + 1.0, "released": False}
    assert store.create_marker(probe._name(0), stale)
    with pytest.raises(IndexBusyError, match="pid 1 on elsewhere"):
        probe.acquire()  # still inside its lease: refused, naming the holder
    time.sleep(1.2)
    probe.acquire()  # not renewed in time: free
    assert probe.generation == 1
    probe.release()


def test_the_lease_of_a_killed_process_on_this_host_is_free_at_once(server_settings: Settings) -> None:
    holder = (
        "import sys; from pathlib import Path; from multimodal.config import Settings; "
        "from multimodal.store import Store; from multimodal.locking import ServerLease; "
        f"s = Settings.resolve(chroma_url={server_settings.chroma_url!r}, collection={server_settings.collection!r}); "
        f"ServerLease(Store.open(s), Path({str(ROOT)!r}), None).acquire(); print('held', flush=True); "
        "import time; time.sleep(120)"
    )
    proc = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True,
                            env=cli_env())
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        with pytest.raises(IndexBusyError, match=f"pid {proc.pid} "):
            ServerLease(Store.open(server_settings), ROOT, None).acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    lease = ServerLease(Store.open(server_settings), ROOT, None)
    lease.acquire()  # its holder is gone: no need to wait for the lease to lapse
    lease.release()


def test_leases_are_per_collection(server_settings: Settings) -> None:
    one = ServerLease(Store.open(server_settings), ROOT, None)
    other = ServerLease(Store.open(replace(server_settings, collection=server_settings.collection + "-b")), ROOT, None)
    one.acquire()
    other.acquire()
    one.release()
    other.release()
