"""Progress on stderr for the commands: a tqdm bar on a terminal, a line every few seconds in a log.

`ProgressBar` is the one bar, fed by the library's (done, total) callbacks: ingest, eval and tag use it
directly; `TrainingBars` (train and demo) holds one for reading images and one per epoch.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # multimodal.train loads torch: only when a run starts (`train --help` stays fast)
    from multimodal.retrieval_metrics import RetrievalScores
    from multimodal.train import EpochReport, StepInfo

LOG_PROGRESS_SECONDS = 10.0  # when stderr is not a terminal: one progress line this often, not one per item


def progress_bar(total: int, desc: str, unit: str, *, leave: bool = True) -> Any:
    """A tqdm bar on a terminal; in a log (CI, `nohup`, a pipe) a `LogProgress`, which has the same methods."""
    if not sys.stderr.isatty():  # MULTIMODAL_PROGRESS_SECONDS sets the interval (0: a line per update)
        return LogProgress(total, desc, unit,
                           interval=float(os.environ.get("MULTIMODAL_PROGRESS_SECONDS", LOG_PROGRESS_SECONDS)))
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, leave=leave, dynamic_ncols=True, file=sys.stderr)


class LogProgress:
    """Progress for a log: one plain line every `interval` seconds and one when closed, whatever the item count.

    A tqdm bar writes a carriage-return redraw per update, which a log keeps as one line each (a demo's log grew
    to 368 KB of "reading images" lines). This has the part of tqdm's interface the CLI uses.
    """

    def __init__(self, total: int, desc: str, unit: str, *, interval: float = LOG_PROGRESS_SECONDS,
                 file: Any = None, clock: Any = time.monotonic) -> None:
        self.total, self.desc, self.unit, self.interval = total, desc, unit, interval
        self.file, self.clock = file, clock
        self.n = 0
        self._postfix = ""
        self._start = self._last = clock()
        self._shown: int | None = None

    def update(self, n: int = 1) -> None:
        self.n += n
        self.refresh(only_if_due=True)

    def refresh(self, only_if_due: bool = True) -> None:
        now = self.clock()
        if not only_if_due or now - self._last >= self.interval:
            self._write(now)

    def set_postfix(self, refresh: bool = True, **values: Any) -> None:
        self._postfix = ", ".join(f"{k} {v}" for k, v in values.items())

    def close(self) -> None:
        if self._shown != self.n:
            self._write(self.clock())

    def _write(self, now: float) -> None:
        elapsed = now - self._start
        rate = f", {self.n / elapsed:.1f} {self.unit}/s" if elapsed > 0 else ""
        extra = f", {self._postfix}" if self._postfix else ""
        print(f"{self.desc}: {self.n}/{self.total} {self.unit}{rate}{extra}, {elapsed:.0f}s",
              file=self.file or sys.stderr, flush=True)
        self._last, self._shown = now, self.n


class ProgressBar:
    """A progress bar fed by the library's (done, total) progress callbacks: rate and ETA on stderr (a terminal),
    or a line every few seconds (a log: see `LogProgress`)."""

    def __init__(self, desc: str, *, disabled: bool, unit: str = "img", leave: bool = True) -> None:
        self.desc, self.unit, self.leave, self.disabled = desc, unit, leave, disabled
        self.bar: Any = None

    def update(self, done: int, total: int, **postfix: str) -> None:
        """`done` of `total` items; `postfix`: figures shown after the count (loss, rate)."""
        if self.disabled:
            return
        if self.bar is None:
            self.bar = progress_bar(total, self.desc, self.unit, leave=self.leave)
        if postfix:
            self.bar.set_postfix(refresh=False, **postfix)
        self.bar.n = done
        self.bar.refresh() if done == total else self.bar.update(0)  # update(0) redraws at tqdm's own pace

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class TrainingBars:
    """Training's progress: a bar while images are read, a bar per epoch (loss, images/s), and one summary line
    per epoch with the validation Recall@K."""

    def __init__(self, disabled: bool) -> None:
        self.disabled = disabled
        self._loading = ProgressBar("reading images", disabled=disabled, leave=False)
        self._epoch: ProgressBar | None = None
        self._epoch_no = 0

    def load(self, done: int, total: int) -> None:
        self._loading.update(done, total)
        if done == total:
            self._loading.close()

    def step(self, info: StepInfo) -> None:
        if info.epoch != self._epoch_no or self._epoch is None:
            self._close_epoch()
            self._epoch_no = info.epoch
            self._epoch = ProgressBar(f"epoch {info.epoch}", disabled=self.disabled, unit="step", leave=False)
        self._epoch.update(info.step, info.steps, loss=f"{info.loss:.3f}", img_s=f"{info.images_per_second:.0f}")

    def epoch(self, report: EpochReport) -> None:
        self._close_epoch()
        parts = [f"epoch {report.epoch}: loss {report.loss:.3f}", f"{report.images_per_second:.0f} img/s",
                 f"{report.seconds:.0f}s"]
        if report.val:
            parts.append("val " + _recall(report.val))
        if report.eval:
            parts.append("eval " + _recall(report.eval))
        print(", ".join(parts), file=sys.stderr)

    def close(self) -> None:
        self._loading.close()
        self._close_epoch()

    def _close_epoch(self) -> None:
        if self._epoch is not None:
            self._epoch.close()
            self._epoch = None


def _recall(scores: RetrievalScores) -> str:
    t2i = " ".join(f"R@{k} {v:.2f}" for k, v in scores.text_to_image.items())
    i2t = " ".join(f"R@{k} {v:.2f}" for k, v in scores.image_to_text.items())
    return f"text→image {t2i} | image→text {i2t}"
