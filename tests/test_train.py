"""Training: deterministic and resumable, saved in open_clip's folder format, and fine-tuning adapts the space."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from multimodal.cli.main import main
from multimodal.encoder import load_encoder
from multimodal.evaluate import RetrievalScores, evaluate_folder
from multimodal.model_folder import CONFIG_FILE, WEIGHTS_FILE
from multimodal.synthetic import generate
from multimodal.train import STATE_FILE, TrainConfig, _Budget, train
from multimodal.training_data import Pairs, epoch_batches

pytestmark = pytest.mark.clip


@pytest.fixture(scope="module")
def small_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("small") / "data"
    generate(root, split="heldout", size=48, captions="varied")  # 60 images, 5 phrasings each
    return root


def test_each_epoch_shows_every_image_once_in_a_seeded_order() -> None:
    captions = [[f"kind {i % 7}", f"other words {i % 7}"] for i in range(60)]  # 7 kinds, many images each
    pairs = Pairs([Path(f"{i}.jpg") for i in range(60)], captions, side=8)
    batches = epoch_batches(pairs, batch_size=8, seed=1, epoch=3)
    seen = [i for batch in batches for i in batch]
    assert sorted(seen) == list(range(60))
    assert all(2 <= len(b) <= 8 for b in batches)
    assert batches == epoch_batches(pairs, batch_size=8, seed=1, epoch=3)
    assert batches != epoch_batches(pairs, batch_size=8, seed=1, epoch=4)


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / WEIGHTS_FILE))


@pytest.mark.slow
def test_an_interrupted_run_resumes_to_the_same_weights_as_an_uninterrupted_one(small_set: Path,
                                                                                tmp_path: Path) -> None:
    def config(out: str) -> TrainConfig:
        return TrainConfig(data=small_set, out=tmp_path / out, epochs=2, batch_size=16, val_fraction=0.2,
                           device="cpu")

    whole = train(config("whole"))

    def stop_after_first(report: object) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config("parts"), on_epoch=stop_after_first)
    resumed = train(config("parts"))
    assert resumed.resumed_from == 1 and [e.epoch for e in resumed.epochs] == [1, 2]
    a, b = _weights(tmp_path / "whole"), _weights(tmp_path / "parts")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert [e.loss for e in whole.epochs] == [e.loss for e in resumed.epochs]
    start = load_encoder("mm-tiny", "none", "cpu").model.state_dict()
    assert not torch.equal(start["text_projection"], a["text_projection"])  # it did train


@pytest.mark.slow
def test_train_cli_writes_a_model_folder_every_command_loads_and_refuses_another_runs_checkpoint(
        small_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model"
    args = ["train", str(small_set), "--out", str(out), "--epochs", "1", "--batch-size", "16", "--json", "-q"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["pairs"] == 60 and [e["epoch"] for e in report["epochs"]] == [1]
    assert report["best_epoch"] == report["last_epoch"] == 1 and report["wall_seconds"] > 0
    assert set(report["epochs"][0]["val"]["text_to_image"]) == {"R@1", "R@5", "R@10"}
    config = json.loads((out / CONFIG_FILE).read_text())
    assert config["model_cfg"]["embed_dim"] == 64 and config["preprocess_cfg"]["size"] in ([64, 64], 64)
    encoder = load_encoder(f"local-dir:{out}", None, "cpu")
    assert encoder.encode_texts(["a red circle"]).shape == (1, 64)
    assert main(args) == 0  # a rerun of a finished run: nothing to do
    assert json.loads(capsys.readouterr().out)["resumed_from"] == 1
    assert main([*args, "--seed", "5"]) == 1  # a conflict with what OUT holds, not a usage error
    assert "--restart" in capsys.readouterr().err
    assert main([*args, "--seed", "5", "--restart"]) == 0


@pytest.mark.slow
def test_trained_model_round_trips_through_local_dir_with_identical_embeddings(small_set: Path,
                                                                               tmp_path: Path) -> None:
    out = tmp_path / "m"
    train(TrainConfig(data=small_set, out=out, epochs=1, batch_size=16, val_fraction=0.2, device="cpu"))
    state = torch.load(out / STATE_FILE, map_location="cpu", weights_only=False)["model"]  # epoch 1: best and last
    in_training = load_encoder("mm-tiny", "none", "cpu")
    in_training.model.load_state_dict(state)  # the weights as the training loop held them
    loaded = load_encoder(f"local-dir:{out}", None, "cpu")
    texts = ["a red circle", "a small blue star on the left"]
    assert torch.equal(torch.from_numpy(in_training.encode_texts(texts)), torch.from_numpy(loaded.encode_texts(texts)))
    image = Image.open(next(small_set.rglob("*.jpg"))).convert("RGB")
    batch_a, batch_b = in_training.preprocess(image)[None], loaded.preprocess(image)[None]
    assert torch.equal(batch_a, batch_b)
    assert torch.equal(torch.from_numpy(in_training.encode_images(batch_a)),
                       torch.from_numpy(loaded.encode_images(batch_b)))


@pytest.mark.slow
def test_fine_tuning_on_a_new_caption_vocabulary_raises_recall_on_it(tiny_model: Path, tmp_path: Path) -> None:
    generate(tmp_path / "alt-train", split="train", per_combination=2, vocabulary="alt", seed=11, size=64)
    generate(tmp_path / "alt-test", split="heldout", per_combination=2, vocabulary="alt", seed=12, size=64)
    before = evaluate_folder(tmp_path / "alt-test", load_encoder(f"local-dir:{tiny_model}", None, "cpu"))
    train(TrainConfig(data=tmp_path / "alt-train", out=tmp_path / "tuned", model=f"local-dir:{tiny_model}",
                      epochs=4, batch_size=64, lr=1e-3, val_fraction=0.0, device="cpu"))
    after = evaluate_folder(tmp_path / "alt-test", load_encoder(f"local-dir:{tmp_path / 'tuned'}", None, "cpu"))
    assert before.retrieval is not None and after.retrieval is not None
    assert after.retrieval.text_to_image[5] >= before.retrieval.text_to_image[5] + 0.2, (before, after)


@pytest.mark.slow
def test_a_minutes_budget_stops_training_and_still_writes_a_loadable_model(small_set: Path, tmp_path: Path) -> None:
    report = train(TrainConfig(data=small_set, out=tmp_path / "m", minutes=0.002, epochs=50, batch_size=16,
                               val_fraction=0.0, device="cpu"))
    assert 1 <= len(report.epochs) < 50  # the budget, not the epoch count, ended it
    assert json.loads((tmp_path / "m" / "training.json").read_text())["complete"]
    assert load_encoder(f"local-dir:{tmp_path / 'm'}", None, "cpu").dim == 64


def test_a_budget_leaves_the_reserve_and_a_step_and_always_lets_the_first_step_run() -> None:
    clock = [100.0]
    budget = _Budget(1.0, started=100.0, clock=lambda: clock[0])  # 60 s from t=100
    budget.reserve, budget.step_seconds = 5.0, 1.0
    clock[0] = 153.0
    assert budget.allows(1)  # 53 + 1 + 5 = 59 s
    assert not budget.allows(5)  # five steps do not fit
    clock[0] = 154.5
    assert not budget.allows(1) and budget.allows(1, first=True)
    assert _Budget(None, started=0.0).allows(10**6)  # no --minutes: no limit


def test_the_schedule_runs_from_the_first_step_to_the_budget_less_the_reserve() -> None:
    clock = [10.0]
    budget = _Budget(1.0, started=0.0, clock=lambda: clock[0])
    budget.reserve = 10.0
    assert budget.progress() == 0.0  # the first step: loading time before it is not schedule time
    clock[0] = 30.0
    assert budget.progress() == pytest.approx(0.5)  # (30 - 10) / (60 - 10 - 10)
    clock[0] = 59.0
    assert budget.progress() == 1.0


def _fake_scorer(quality: list[float]) -> object:
    calls = iter(quality)

    def score(encoder: object, pairs: Pairs, **_: object) -> RetrievalScores:
        q = next(calls)
        return RetrievalScores({1: q, 5: q, 10: q}, {1: q, 5: q, 10: q}, len(pairs), len(pairs))

    return score


@pytest.mark.slow
def test_the_model_written_is_the_best_validation_epoch_and_the_state_the_last(
        small_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("multimodal.train.score_pairs", _fake_scorer([0.5, 0.9, 0.2]))  # epoch 2 is best
    out = tmp_path / "m"
    saved: dict[int, dict[str, torch.Tensor]] = {}
    report = train(TrainConfig(data=small_set, out=out, epochs=3, batch_size=16, val_fraction=0.2, device="cpu"),
                   on_epoch=lambda r: saved.setdefault(r.epoch, _weights(out)))
    assert report.best_epoch == 2 and [e.epoch for e in report.epochs] == [1, 2, 3]
    kept, last = _weights(out), torch.load(out / STATE_FILE, map_location="cpu", weights_only=False)["model"]
    assert all(torch.equal(kept[k], saved[2][k]) for k in kept)
    assert not torch.equal(kept["text_projection"], last["text_projection"])  # the last epoch is not what was kept
    log = json.loads((out / "training.json").read_text())
    assert (log["best_epoch"], log["last_epoch"]) == (2, 3)


@pytest.mark.slow
def test_a_minutes_budget_bounds_the_whole_run_loading_and_scoring_included(small_set: Path, tmp_path: Path) -> None:
    budget = 12.0
    began = time.monotonic()
    report = train(TrainConfig(data=small_set, out=tmp_path / "m", minutes=budget / 60, batch_size=16,
                               val_fraction=0.2, eval_data=small_set, device="cpu"), started=began)
    took = time.monotonic() - began
    assert len(report.epochs) >= 2 and all(e.val and e.eval for e in report.epochs)
    assert took <= 1.05 * budget, took
    assert took >= 0.85 * budget, took  # it stops one scoring (~5% of so short a budget) early at most
    assert report.wall_seconds == pytest.approx(took, abs=0.2)
    assert json.loads((tmp_path / "m" / "training.json").read_text())["complete"]


def test_a_negative_colourless_epochs_is_refused_with_the_flag_named(tmp_path: Path) -> None:
    from multimodal.errors import ConfigError

    with pytest.raises(ConfigError, match="--colourless-epochs must be 0 or more"):
        TrainConfig(data=tmp_path, out=tmp_path / "m", colourless_epochs=-1).validated()
