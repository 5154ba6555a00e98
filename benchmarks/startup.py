"""Cold start of the CLI, as a user at a shell meets it: each command in a fresh process.

    python benchmarks/startup.py [--repeats 5] [--no-readme]

Builds (once, cached) a 3-image index with ViT-B-32 whose weights come from a checkpoint file on disk
(seeded random weights saved first, so the real loading path runs; the ingest also exports the text tower
to ONNX, as a user's ingest does when the `onnx` extra is installed), then times `--help`, `search --help`,
a usage error, `info` and a cold text `search`, each as the median of `--repeats` rounds, and as a ratio to
`python -c "import torch"` timed in the same rounds (rounds interleave the commands, so a load change on a
shared machine hits them all alike). The table goes into benchmarks/README.md unless `--no-readme`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import REPO, cache_dir, machine, median, write_section
from PIL import Image

from multimodal.devtools.processes import child_env

MODEL = "ViT-B-32"
ENV = child_env()


def prepare(folder: Path) -> tuple[Path, Path]:
    """The checkpoint file and the index (both cached in `folder`)."""
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint, index, photos = folder / f"{MODEL}-seeded.pt", folder / "index", folder / "photos"
    if not checkpoint.exists():
        import open_clip
        import torch

        torch.manual_seed(0)
        model = open_clip.create_model(MODEL, pretrained=None)
        torch.save(model.state_dict(), checkpoint.with_suffix(".tmp"))
        checkpoint.with_suffix(".tmp").rename(checkpoint)
    if not (index / "COMPLETE-2").exists():  # 2: built by an ingest that also exports the text tower
        shutil.rmtree(index, ignore_errors=True)
        photos.mkdir(exist_ok=True)
        for i, colour in enumerate(["red", "green", "blue"]):
            Image.new("RGB", (320, 240), colour).save(photos / f"{i}-{colour}.jpg")
        run_cli(["ingest", str(photos), "-q", "--model", MODEL, "--pretrained", str(checkpoint)], index, check=True)
        (index / "COMPLETE-2").touch()
    return checkpoint, index


def run_cli(args: list[str], index: Path, check: bool = False) -> float:
    # The per-user data folder (text towers, precision checks) lives beside the index, not in the user's own.
    env = {**ENV, "MULTIMODAL_INDEX_DIR": str(index), "XDG_DATA_HOME": str(index.parent / "data")}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "multimodal", *args], capture_output=True, text=True, env=env,
                          cwd=REPO)
    seconds = time.perf_counter() - start
    if check and proc.returncode != 0:
        raise SystemExit(f"multimodal {' '.join(args)} failed:\n{proc.stderr}")
    return seconds


def import_torch() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True, env=ENV)
    return time.perf_counter() - start


# name, argv, expected exit status, target: (seconds, or None) and (ratio over `import torch`, or None)
CASES = [
    ("multimodal --help", ["--help"], "≤ 0.5 s"),
    ("multimodal search --help", ["search", "--help"], "≤ 0.5 s"),
    ("multimodal search (usage error)", ["search"], "≤ 0.5 s"),
    ("multimodal info", ["info"], "≤ 1.5 s"),
    ('multimodal search "a red square"', ["search", "a red square", "-k", "3"], "≤ import torch + 1.5 s"),
]


def measure(index: Path, repeats: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"python -c 'import torch'": []}
    times.update({name: [] for name, _, _ in CASES})
    for _ in range(repeats):
        times["python -c 'import torch'"].append(import_torch())
        for name, argv, _ in CASES:
            times[name].append(run_cli(argv, index))
    return times


def table(times: dict[str, list[float]], load_before: str, load_after: str) -> str:
    torch_s = median(times["python -c 'import torch'"])
    targets = {name: target for name, _, target in CASES}
    lines = [f"Machine: {load_before}; load average after: {load_after}. Medians of "
             f"{len(next(iter(times.values())))} cold runs (fresh process each), {MODEL} with weights from a "
             "checkpoint file, 3-image index.", "",
             "| command | median s | min–max s | ÷ `import torch` | target |", "|---|---:|---:|---:|---|"]
    for name, values in times.items():
        lines.append(f"| `{name}` | {median(values):.2f} | {min(values):.2f}–{max(values):.2f} | "
                     f"{median(values) / torch_s:.2f} | {targets.get(name, '')} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--no-readme", action="store_true", help="leave benchmarks/README.md alone")
    args = p.parse_args()
    _, index = prepare(cache_dir() / "startup")
    load_before = machine()
    times = measure(index, args.repeats)
    load_after = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    text = table(times, load_before, load_after)
    print(text)
    if not args.no_readme:
        write_section("startup", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
