"""Contrastive training of an OpenCLIP model on a captioned folder, with open_clip's own `ClipLoss`.

From scratch for an architecture (`mm-tiny`, any open_clip name, or a JSON config), or fine-tuning
from weights (a tag, a checkpoint file, or a `local-dir:` folder). The result is written in open_clip's
folder format (`open_clip_config.json` + `open_clip_model.safetensors`), so `--model local-dir:OUT`
loads it in every command. The model written is the best epoch by validation Recall (the val split,
else the eval set; the last epoch when neither is scored); `training.json` names the best and the last.
After each epoch `train_state.pt` in OUT records everything needed to continue from the *last* epoch:
rerunning the same command resumes after it.

`minutes` is a wall-clock budget for the whole run: loading the data, training, the scoring between
epochs and saving. Training stops early enough to leave the time the end-of-epoch work took last time.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from multimodal import vocabulary
from multimodal.batch_encode import encode_texts
from multimodal.contrastive_loss import multi_positive_clip_loss
from multimodal.encoder import ClipEncoder, load_encoder, resolve_device
from multimodal.errors import ConfigError, NotFoundError, StateConflictError
from multimodal.model_folder import WEIGHTS_FILE, architecture, atomic_write, model_cfg, save_model
from multimodal.retrieval_metrics import KS, RetrievalScores, retrieval_scores
from multimodal.training_data import Pairs, batches_of_images, epoch_batches

STATE_FILE = "train_state.pt"  # not a name open_clip's local-dir loader picks up as weights
LOG_FILE = "training.json"
_WARMUP = 0.05  # share of the run spent raising the learning rate linearly from 0
_MAX_LOGIT_SCALE = math.log(100)  # open_clip's clamp: keeps the softmax temperature sane


@dataclass(frozen=True)
class TrainConfig:
    """One training run. `epochs` and/or `minutes` bound it (default 10 epochs)."""

    data: Path  # captioned folder (sidecars, captions.csv or captions.jsonl)
    out: Path  # model folder to write (open_clip format) and resume from
    model: str = "mm-tiny"  # architecture, or local-dir:PATH / hf-hub:ORG/REPO to fine-tune
    pretrained: str | None = None  # weights to start from: tag, checkpoint file; None = random (from scratch)
    config: Path | None = None  # an architecture as JSON (open_clip model config); overrides `model`
    epochs: int | None = None
    minutes: float | None = None  # wall-clock budget of the whole run; the learning-rate schedule follows time
    batch_size: int = 64
    lr: float = 1.5e-3
    weight_decay: float = 0.1
    seed: int = 0
    val_fraction: float = 0.1  # share of DATA held out for the per-epoch Recall@K
    eval_data: Path | None = None  # another captioned folder scored after each epoch (e.g. held-out)
    device: str = "auto"
    workers: int = 0  # decoding threads; 0 = one per core
    restart: bool = False  # ignore a checkpoint in OUT and start over
    hard_negatives: float = 0.0  # share of batches built around one shared caption word (see epoch_batches)
    colourless_epochs: int = 0  # first epochs train only on captions that name no colour (colour_words.py)

    def validated(self) -> TrainConfig:
        if self.epochs is not None and self.epochs < 1:
            raise ConfigError(f"--epochs must be at least 1, got {self.epochs}")
        if self.minutes is not None and self.minutes <= 0:
            raise ConfigError(f"--minutes must be positive, got {self.minutes}")
        if self.batch_size < 2:
            raise ConfigError(f"--batch-size must be at least 2 (contrastive pairs), got {self.batch_size}")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError(f"--val-fraction must be in [0, 1), got {self.val_fraction}")
        if self.lr <= 0:
            raise ConfigError(f"--lr must be positive, got {self.lr}")
        if self.colourless_epochs < 0:
            raise ConfigError(f"--colourless-epochs must be 0 or more, got {self.colourless_epochs}")
        if not 0 <= self.hard_negatives <= 1:
            raise ConfigError(f"--hard-negatives must be in [0, 1], got {self.hard_negatives}")
        return self


@dataclass(frozen=True)
class StepInfo:
    epoch: int  # 1-based
    step: int  # within the epoch, 1-based
    steps: int  # in this epoch
    loss: float
    images_per_second: float


@dataclass(frozen=True)
class EpochReport:
    epoch: int
    loss: float  # mean training loss over the epoch
    seconds: float  # training time since the run began (summed over resumed runs)
    images_per_second: float
    val: RetrievalScores | None = None
    eval: RetrievalScores | None = None
    wall: float = 0.0  # wall-clock seconds of the whole run (loading, training, scoring, saving) after this epoch

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k not in ("val", "eval")}
        data["val"] = self.val.to_dict() if self.val else None
        data["eval"] = self.eval.to_dict() if self.eval else None
        return data

    def quality(self) -> float | None:
        """What picks the best epoch: mean text → image R@1 and R@5 on val, else on eval; None if unscored."""
        scores = self.val or self.eval
        if scores is None:
            return None
        return float(np.mean([scores.text_to_image.get(k, 0.0) for k in (1, 5)]))


@dataclass
class TrainReport:
    out: Path
    epochs: list[EpochReport] = field(default_factory=list)
    resumed_from: int = 0  # epochs already done by an earlier run
    best_epoch: int = 0  # the epoch whose weights are in `out` (see EpochReport.quality)
    wall_seconds: float = 0.0  # the whole run, loading to last save, summed over resumed runs
    pairs: int = 0
    skipped: list[str] = field(default_factory=list)  # unreadable images: "path: reason"


StepFn = Callable[[StepInfo], None]
EpochFn = Callable[[EpochReport], None]


def train(config: TrainConfig, *, on_step: StepFn | None = None, on_epoch: EpochFn | None = None,
          on_load: Callable[[int, int], None] | None = None, started: float | None = None) -> TrainReport:
    """Train (or continue training) and write the model to `config.out`.

    `started` is the `time.monotonic()` the `minutes` budget counts from (default: now); the CLI passes
    its process's start, so the budget covers the imports too.

    Raises:
        NotFoundError: DATA does not exist.
        ConfigError: bad options or no captioned images.
        StateConflictError: OUT holds a checkpoint of a different run.
        WeightsUnavailableError: the starting weights are not on this machine.
    """
    config = config.validated()
    started = time.monotonic() if started is None else started  # loading is part of the budgeted run
    if not config.data.is_dir():
        raise NotFoundError(f"training data folder {config.data} does not exist")
    torch.manual_seed(config.seed)
    model_name, arch = architecture(config.config)
    # Training updates float32 weights: `auto` would cast a CPU model to bf16 (CUDA keeps fp16 autocast for encodes).
    precision = "auto" if resolve_device(config.device).type == "cuda" else "fp32"
    encoder = load_encoder(model_name or config.model, config.pretrained or "none", config.device, seed=config.seed,
                           precision=precision)
    arch = arch or model_cfg(encoder.spec)
    pairs = Pairs.load(config.data, encoder.image_size, workers=config.workers, progress=on_load)
    train_set, val_set = pairs.split(config.val_fraction, config.seed)
    if len(train_set) < 2:
        raise ConfigError(f"need at least 2 captioned images under {config.data}, found {len(pairs)}")
    eval_set = Pairs.load(config.eval_data, encoder.image_size, workers=config.workers) if config.eval_data else None
    run = _Run(config, encoder, arch, train_set, val_set, eval_set, started)
    report = TrainReport(config.out, pairs=len(pairs), skipped=[f"{e.path}: {e.reason}" for e in pairs.failed])
    run.restore(report)
    run.loop(report, on_step, on_epoch)
    vocabulary.record_training(config.out, encoder.spec, train_set.captions)  # closed-vocabulary models only
    report.best_epoch, report.wall_seconds = run.best_epoch, round(run.spent(), 2)
    return report


class _Run:
    def __init__(self, config: TrainConfig, encoder: ClipEncoder, model_cfg: dict[str, Any], train_set: Pairs,
                 val_set: Pairs | None, eval_set: Pairs | None, started: float) -> None:
        from open_clip.transform import PreprocessCfg, image_transform_v2

        self.config, self.encoder, self.model_cfg = config, encoder, model_cfg
        self.model = encoder.model
        self.train_set, self.val_set, self.eval_set = train_set, val_set, eval_set
        preprocess_cfg = PreprocessCfg(**self.model.visual.preprocess_cfg)
        # open_clip's training transform: a random crop of 90–100% of the image, no flips (captions say left/right).
        self.transform = image_transform_v2(preprocess_cfg, is_train=True)
        self.optimizer = _adamw(self.model, config.lr, config.weight_decay)
        self.epochs = config.epochs if config.epochs is not None else (10_000 if config.minutes else 10)
        self.steps_per_epoch = len(epoch_batches(train_set, config.batch_size, config.seed, 0, config.hard_negatives))
        self.step = 0
        self.elapsed = 0.0  # seconds spent in training steps (and waiting for their batches)
        self.done_epochs = 0
        self.history: list[EpochReport] = []
        self.best_epoch = 0
        self.budget = _Budget(config.minutes, started)
        self._tokens: dict[str, torch.Tensor] = {}  # captions recur every epoch: tokenize each once
        if encoder.device.type == "cpu":
            # oneDNN's convolutions run markedly faster on channels-last tensors on CPUs.
            self.model.to(memory_format=torch.channels_last)

    # -- checkpoints -------------------------------------------------------------------------
    def signature(self) -> dict[str, Any]:
        c = self.config
        return {"model": self.encoder.spec.model, "pretrained": self.encoder.spec.pretrained,
                "model_cfg": self.model_cfg, "data": str(c.data.absolute()), "seed": c.seed,
                "batch_size": c.batch_size, "val_fraction": c.val_fraction,
                "hard_negatives": c.hard_negatives,
                "colourless_epochs": c.colourless_epochs}

    def restore(self, report: TrainReport) -> None:
        path = self.config.out / STATE_FILE
        if self.config.restart or not path.is_file():
            return
        state = torch.load(path, map_location="cpu", weights_only=False)
        if state["signature"] != self.signature():
            raise StateConflictError(f"{self.config.out} holds a checkpoint of a different run (model, data, seed or "
                              "batch size differ); pass --restart to start over, or another --out")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.elapsed, self.done_epochs = state["step"], state["elapsed"], state["epoch"]
        self.history = [_epoch_from_dict(d) for d in state["history"]]
        self.best_epoch = state.get("best_epoch", self.done_epochs)
        self.budget.resume(state.get("budget", {}))
        report.resumed_from = self.done_epochs
        report.epochs = list(self.history)

    def save(self, best: bool = True) -> None:
        """The state (last epoch) and the log always; the model files only when this epoch is the best."""
        out = self.config.out
        out.mkdir(parents=True, exist_ok=True)
        if best:
            self.best_epoch = self.done_epochs
            save_model(self.model, self.model_cfg, out, self.encoder.tokenizer)
        state = {"signature": self.signature(), "model": self.model.state_dict(),
                 "optimizer": self.optimizer.state_dict(), "step": self.step, "elapsed": self.elapsed,
                 "epoch": self.done_epochs, "history": [e.to_dict() for e in self.history],
                 "best_epoch": self.best_epoch, "budget": self.budget.state()}
        atomic_write(out / STATE_FILE, lambda tmp: torch.save(state, tmp))
        self._write_log()

    def _write_log(self) -> None:
        log = {"config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self.config).items()},
               "epochs_done": self.done_epochs, "complete": self._finished(),
               "best_epoch": self.best_epoch, "last_epoch": self.done_epochs, "wall_seconds": round(self.spent(), 2),
               "history": [e.to_dict() for e in self.history]}
        atomic_write(self.config.out / LOG_FILE, lambda tmp: tmp.write_text(json.dumps(log, indent=1)))

    # -- the loop ----------------------------------------------------------------------------
    def loop(self, report: TrainReport, on_step: StepFn | None, on_epoch: EpochFn | None) -> None:
        if self._finished():
            # A rerun of a finished run only makes sure the model files are there (the last epoch's, if gone).
            self.save(best=not (self.config.out / WEIGHTS_FILE).is_file())
            return
        if not self.history:
            self.budget.reserve = self._estimate_scoring()
        while not self._finished():
            epoch = self.done_epochs + 1
            loss = self._epoch(epoch, on_step)
            self.done_epochs = epoch
            ended = time.monotonic()
            rate = self.step * self.config.batch_size / max(self.elapsed, 1e-9)
            result = EpochReport(epoch, loss, round(self.elapsed, 2), round(rate, 1),
                                 self._score(self.val_set), self._score(self.eval_set))
            result = replace(result, wall=round(self.spent(), 2))
            self.history.append(result)
            report.epochs.append(result)
            self.save(best=self._is_best(result))
            self.budget.reserve = time.monotonic() - ended  # what the next epoch's end will cost, roughly
            if on_epoch:
                on_epoch(result)
        self._write_log()  # "complete" as the loop decided it (a budget can run out during the last save)

    def spent(self) -> float:
        return self.budget.spent()

    def _is_best(self, result: EpochReport) -> bool:
        """Ties go to the later epoch; unscored epochs are always kept (the last one is all we know)."""
        quality = result.quality()
        best = next((e.quality() for e in self.history if e.epoch == self.best_epoch), None)
        return quality is None or best is None or quality >= best

    def _finished(self) -> bool:
        return self.done_epochs >= self.epochs or not self.budget.allows(1, first=not self.step)

    def _estimate_scoring(self) -> float:
        """Seconds the first end-of-epoch scoring will take, from timing a small slice of the scored sets."""
        sizes = [len(p) for p in (self.val_set, self.eval_set) if p is not None and len(p)]
        if self.config.minutes is None or not sizes:
            return 0.0
        probe = (self.val_set or self.eval_set)
        assert probe is not None
        n = min(32, len(probe))
        began = time.monotonic()
        self._score(probe.subset(range(n)))
        self.model.train()
        return (time.monotonic() - began) * sum(sizes) / n * 1.2 + 0.5  # + saving, unknown until the first save

    def _epoch(self, epoch: int, on_step: StepFn | None) -> float:
        c = self.config
        torch.manual_seed(c.seed * 100_003 + epoch)  # augmentation draws: the same per epoch, resumed or not
        batches = epoch_batches(self.train_set, c.batch_size, c.seed, epoch, c.hard_negatives)
        self.model.train()
        losses = []
        started = time.perf_counter()
        stream = batches_of_images(self.train_set, batches, self.transform, c.workers,
                                   colourless_only=epoch <= c.colourless_epochs)
        for n, batch in enumerate(stream, start=1):
            if not self.budget.allows(1, first=not self.step):
                break
            self._set_lr()
            loss = self._train_step(batch.images, batch.texts, batch.targets)
            self.step += 1
            took = time.perf_counter() - started  # this step, and waiting for its batch
            started = time.perf_counter()
            self.elapsed += took
            self.budget.step_took(took)
            losses.append(loss)
            if on_step:
                on_step(StepInfo(epoch, n, len(batches), loss, len(batch.texts) / max(took, 1e-9)))
        return float(np.mean(losses)) if losses else float("nan")

    def _train_step(self, images: torch.Tensor, texts: list[str], targets: torch.Tensor) -> float:
        device = self.encoder.device
        tokens = self._tokenize(texts).to(device)
        out = self.model(images.to(device).contiguous(memory_format=torch.channels_last), tokens)
        image_features, text_features, logit_scale = (
            (out["image_features"], out["text_features"], out["logit_scale"]) if isinstance(out, dict) else out[:3])
        loss = multi_positive_clip_loss(image_features, text_features, logit_scale, targets.to(device))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            self.model.logit_scale.clamp_(0, _MAX_LOGIT_SCALE)
        return float(loss.item())

    def _tokenize(self, texts: list[str]) -> torch.Tensor:
        new = [t for t in dict.fromkeys(texts) if t not in self._tokens]
        if new:
            self._tokens.update(zip(new, self.encoder.tokenizer(new), strict=True))
        return torch.stack([self._tokens[t] for t in texts])

    def _set_lr(self) -> None:
        c = self.config
        if c.minutes is not None:
            progress = self.budget.progress()
            if c.epochs is not None:
                progress = max(progress, self.step / (c.epochs * self.steps_per_epoch))
        else:
            progress = self.step / max(1, self.epochs * self.steps_per_epoch)
        lr = c.lr * (progress / _WARMUP if progress < _WARMUP
                     else 0.5 * (1 + math.cos(math.pi * (progress - _WARMUP) / (1 - _WARMUP))))
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _score(self, pairs: Pairs | None) -> RetrievalScores | None:
        if pairs is None:
            return None
        return score_pairs(self.encoder, pairs)


class _Budget:
    """The wall-clock budget of a `--minutes` run, counted from the start of `train()` over resumed runs.

    A step starts only if, after it, there is still `reserve` left: the time the last end-of-epoch
    scoring and saving took (estimated before the first). The learning-rate schedule runs from the first
    step to the budget less that reserve.
    """

    def __init__(self, minutes: float | None, started: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = minutes * 60 if minutes is not None else None
        self.started, self.clock = started, clock
        self.before = 0.0  # wall seconds of earlier runs of this training
        self.schedule_start: float | None = None  # spent() at the first step
        self.reserve = 0.0
        self.step_seconds = 0.0  # the latest step's time, batch wait included

    def spent(self) -> float:
        return self.before + self.clock() - self.started

    def resume(self, state: dict[str, Any]) -> None:
        self.before = float(state.get("spent", 0.0))
        self.schedule_start = state.get("schedule_start")
        self.reserve = float(state.get("reserve", 0.0))
        self.step_seconds = float(state.get("step_seconds", 0.0))

    def state(self) -> dict[str, Any]:
        return {"spent": self.spent(), "schedule_start": self.schedule_start, "reserve": self.reserve,
                "step_seconds": self.step_seconds}

    def step_took(self, seconds: float) -> None:
        self.step_seconds = seconds

    def allows(self, steps: int, *, first: bool = False) -> bool:
        """Whether `steps` more steps fit, leaving the reserve. The very first step always runs: a model is written."""
        if self.seconds is None or first:
            return True
        return self.spent() + steps * self.step_seconds + self.reserve <= self.seconds

    def progress(self) -> float:
        """Share of the training time used, 0 → 1, for the learning-rate schedule."""
        assert self.seconds is not None
        now = self.spent()
        if self.schedule_start is None:
            self.schedule_start = now
        span = self.seconds - self.reserve - self.schedule_start
        return min(1.0, (now - self.schedule_start) / span) if span > 0 else 1.0


def score_pairs(encoder: ClipEncoder, pairs: Pairs, ks: tuple[int, ...] = KS, batch_size: int = 128,
                ) -> RetrievalScores:
    """Retrieval Recall@K of `encoder` on in-memory pairs (every caption of every image)."""
    encoder.model.eval()
    vectors = np.concatenate([
        encoder.encode_images(torch.stack([encoder.preprocess(pairs.image(i))
                                           for i in range(s, min(s + batch_size, len(pairs)))]))
        for s in range(0, len(pairs), batch_size)])
    texts = list(dict.fromkeys(c for caps in pairs.captions for c in caps))
    return retrieval_scores(vectors, pairs.captions, encode_texts(encoder, texts), texts, ks)


def _adamw(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """AdamW, fused where torch has it: on a small CLIP the update of the 49k-row token embedding is
    a large share of a step, and the fused kernel cuts it several-fold on CPU."""
    groups = _param_groups(model, weight_decay)
    try:
        return torch.optim.AdamW(groups, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):  # an older torch, or a device without the kernel
        return torch.optim.AdamW(groups, lr=lr)


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """open_clip's recipe: no weight decay on gains, biases, norms and the logit scale."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        exclude = p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name
        (no_decay if exclude else decay).append(p)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]


def _epoch_from_dict(d: dict[str, Any]) -> EpochReport:
    def scores(s: dict[str, Any] | None) -> RetrievalScores | None:
        if not s:
            return None
        return RetrievalScores({int(k[2:]): v for k, v in s["text_to_image"].items()},
                               {int(k[2:]): v for k, v in s["image_to_text"].items()}, s["n"], s["n_texts"])

    return EpochReport(d["epoch"], d["loss"], d["seconds"], d["images_per_second"], scores(d["val"]),
                       scores(d["eval"]), d.get("wall", 0.0))
