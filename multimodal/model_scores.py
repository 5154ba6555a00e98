"""The latest measured numbers of a model folder: what `multimodal eval` last found, and what training kept.

`multimodal eval --model local-dir:M DATA` writes `M/last_eval.json`; `multimodal train` writes
`M/training.json` (per-epoch validation Recall, the kept and the last epoch). Reading needs no torch.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EVAL_FILE = "last_eval.json"
TRAINING_FILE = "training.json"  # = multimodal.train.LOG_FILE (not imported: that pulls in torch)


@dataclass(frozen=True)
class ModelScores:
    """Plain-text-ready numbers; each part is None when the folder holds no such record."""

    last_eval: dict[str, Any] | None  # {"data", "when", "report"}: the eval command's last result
    kept_epoch: dict[str, Any] | None  # the training epoch whose weights the folder holds
    last_epoch: int | None


def write_last_eval(folder: Path, data: str | Path, report: dict[str, Any]) -> bool:
    """Record an evaluation beside the model. Best effort: False (nothing written) on a read-only folder."""
    record = {"data": str(Path(data).absolute()), "when": time.strftime("%Y-%m-%d %H:%M:%S"), "report": report}
    tmp = folder / f".{EVAL_FILE}.tmp"
    try:
        tmp.write_text(json.dumps(record, indent=1), encoding="utf-8")
        os.replace(tmp, folder / EVAL_FILE)
    except OSError:
        return False
    return True


def read_scores(folder: Path) -> ModelScores:
    last_eval = _read(folder / EVAL_FILE)
    log = _read(folder / TRAINING_FILE) or {}
    history = log.get("history") or []
    kept = log.get("best_epoch", log.get("epochs_done"))
    kept_epoch = next((e for e in history if e.get("epoch") == kept), None)
    return ModelScores(last_eval, kept_epoch, log.get("last_epoch", log.get("epochs_done")))


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
