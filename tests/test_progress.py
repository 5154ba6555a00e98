"""Progress output in a log (stderr not a terminal): a line every few seconds, not one per item."""

from __future__ import annotations

import io

import pytest

from multimodal.cli.progress import LogProgress, ProgressBar, TrainingBars, progress_bar


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_log_gets_one_line_per_interval_and_one_at_the_end() -> None:
    clock, out = Clock(), io.StringIO()
    bar = LogProgress(100, "ingest", "img", interval=10.0, file=out, clock=clock)
    for _ in range(100):
        clock.now += 0.25  # 25 s in all: lines at 10 s and 20 s
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("ingest: 40/100 img, 4.0 img/s")
    assert lines[-1].startswith("ingest: 100/100 img") and lines[-1].endswith("25s")


def test_closing_after_a_line_that_showed_the_end_adds_none() -> None:
    clock, out = Clock(), io.StringIO()
    bar = LogProgress(2, "x", "img", interval=1.0, file=out, clock=clock)
    bar.set_postfix(loss="0.5", refresh=False)
    clock.now = 5.0
    bar.update(2)
    bar.close()
    assert out.getvalue().splitlines() == ["x: 2/2 img, 0.4 img/s, loss 0.5, 5s"]


def test_thousands_of_items_fed_quickly_make_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    bars = TrainingBars(disabled=False)  # train/demo's "reading images"
    for done in range(1, 2883):
        bars.load(done, 2882)
    bar = ProgressBar("ingest", disabled=False)
    for done in range(1, 2883):
        bar.update(done, 2882)
    bar.close()
    err = capsys.readouterr().err
    assert err.count("reading images") == 1 and err.count("ingest:") == 1, err
    assert "2882/2882" in err


def test_a_terminal_still_gets_a_tqdm_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    bar = progress_bar(10, "x", "img")
    try:
        assert type(bar).__name__ == "tqdm"
    finally:
        bar.close()
