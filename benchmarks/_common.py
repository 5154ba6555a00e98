"""Shared helpers for the benchmark scripts: test photos, machine description, results tables.

Nothing here is imported by the product; the scripts run as `python benchmarks/NAME.py`.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `python benchmarks/x.py` puts benchmarks/, not the repo, on sys.path
    sys.path.insert(0, str(REPO))

from multimodal.openmp import passive_wait_policy  # noqa: E402 - needs the repository on sys.path

passive_wait_policy()  # as the CLI does: before any benchmark loads torch

PHOTO_SIZE = (4032, 3024)  # a 12-MP phone photo, landscape
README = Path(__file__).resolve().parent / "README.md"


def cache_dir() -> Path:
    """Where generated photos and built indexes are kept between runs (outside the repository)."""
    base = os.environ.get("MULTIMODAL_BENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache")), "multimodal-bench")
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def make_photo(seed: int, size: tuple[int, int] = PHOTO_SIZE) -> Image.Image:
    """A photo-like image: smooth low-frequency structure, mid-frequency texture and sensor noise.

    Flat colours or pure noise compress unrealistically well or badly; this mix gives 12-MP JPEGs of
    a few MB at quality 90, like a phone's, so the entropy decoder does a realistic amount of work.
    """
    rng = np.random.default_rng(seed)
    w, h = size
    small = (w // 4, h // 4)  # structure is built at quarter size (fast), then upscaled once
    out = np.zeros((small[1], small[0], 3), dtype=np.float32)
    for cells, amplitude in ((4, 90.0), (24, 35.0), (160, 14.0)):
        grid = rng.normal(0.0, amplitude, (max(2, cells * h // w), cells, 3)).astype(np.float32)
        out += np.stack([np.asarray(Image.fromarray(grid[..., c], mode="F").resize(small, Image.Resampling.BICUBIC))
                         for c in range(3)], axis=-1)
    out += rng.normal(128.0, 20.0, 3).astype(np.float32)  # a base colour per image
    base = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), mode="RGB").resize(size, Image.Resampling.BICUBIC)
    noise = rng.normal(0.0, 5.0, (h, w, 1)).astype(np.float32)  # luminance noise, as in a phone photo
    return Image.fromarray(np.clip(np.asarray(base, dtype=np.float32) + noise, 0, 255).astype(np.uint8), mode="RGB")


def photo_folder(n: int, *, seed: int = 0, size: tuple[int, int] = PHOTO_SIZE) -> Path:
    """A cached folder `photos-N/` of `n` generated JPEGs (12-MP unless `size` says otherwise), made on first use.

    Folders of different sizes hard-link the same files (one pool), so a smaller N is a prefix of a larger.
    """
    tag = "" if size == PHOTO_SIZE else f"-{size[0]}x{size[1]}"
    pool = cache_dir() / f"photo-pool-{seed}{tag}"
    folder = cache_dir() / f"photos-{seed}-{n}{tag}"
    pool.mkdir(parents=True, exist_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        src, dst = pool / f"IMG_{i:04d}.jpg", folder / f"IMG_{i:04d}.jpg"
        if not src.exists():
            tmp = src.with_suffix(".tmp")
            make_photo(seed * 100_000 + i, size).save(tmp, format="JPEG", quality=90)
            tmp.rename(src)
        if not dst.exists():
            try:
                os.link(src, dst)
            except OSError:
                shutil.copyfile(src, dst)
    return folder


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def machine() -> str:
    """One line naming the CPU, the cores this process may use, and the load when the run began."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return f"{cpu}, {cores()} cores, load average {load}"


def busy_cpu_seconds() -> float:
    """CPU-seconds all processes have spent busy since boot (Linux /proc/stat; 0 elsewhere)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def wait_for_quiet(max_wait: float, *, cores_busy: float = 0.25, window: float = 5.0) -> float:
    """Wait (up to `max_wait` s) for a `window` in which other processes keep under `cores_busy` cores busy.

    Returns the busy cores seen in the last window. On a shared machine this keeps a benchmark from
    timing someone else's test run; the scripts report the figure either way.
    """
    deadline = time.monotonic() + max_wait
    while True:
        before = busy_cpu_seconds()
        time.sleep(window)
        busy = (busy_cpu_seconds() - before) / window
        if busy < cores_busy or time.monotonic() >= deadline:
            return busy


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


class Stopwatch:
    """Wall and process CPU time of a block: `with Stopwatch() as sw: ...; sw.wall, sw.cpu`."""

    def __enter__(self) -> Stopwatch:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def write_section(name: str, text: str, path: Path = README) -> None:
    """Replace the text between `<!-- results:NAME -->` and `<!-- /results:NAME -->` in `path`."""
    begin, end = f"<!-- results:{name} -->", f"<!-- /results:{name} -->"
    doc = path.read_text() if path.exists() else ""
    block = f"{begin}\n{text.rstrip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    doc = pattern.sub(lambda _: block, doc) if pattern.search(doc) else doc.rstrip() + "\n\n" + block + "\n"
    path.write_text(doc)
