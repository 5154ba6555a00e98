"""Contrastive training of an OpenCLIP model on a captioned folder, with open_clip's own `ClipLoss`.

From scratch for an architecture (`mm-tiny`, any open_clip name, or a JSON config), or fine-tuning
from weights (a tag, a checkpoint file, or a `local-dir:` folder). The result is written in open_clip's
folder format (`open_clip_config.json` + `open_clip_model.safetensors`), so `--model local-dir:OUT`
loads it in every command. After each epoch `train_state.pt` in OUT records everything needed to
continue: rerunning the same command resumes after the last finished epoch.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from multimodal.encoder import ClipEncoder, load_encoder, resolve_device
from multimodal.errors import ConfigError, NotFoundError
from multimodal.evaluate import KS, RetrievalScores, encode_texts, retrieval_scores
from multimodal.model_folder import architecture, atomic_write, model_cfg, save_model
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
    minutes: float | None = None  # wall-clock budget; the learning-rate schedule follows time
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

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k not in ("val", "eval")}
        data["val"] = self.val.to_dict() if self.val else None
        data["eval"] = self.eval.to_dict() if self.eval else None
        return data


@dataclass
class TrainReport:
    out: Path
    epochs: list[EpochReport] = field(default_factory=list)
    resumed_from: int = 0  # epochs already done by an earlier run
    pairs: int = 0
    skipped: list[str] = field(default_factory=list)  # unreadable images: "path: reason"


StepFn = Callable[[StepInfo], None]
EpochFn = Callable[[EpochReport], None]


def train(config: TrainConfig, *, on_step: StepFn | None = None, on_epoch: EpochFn | None = None,
          on_load: Callable[[int, int], None] | None = None) -> TrainReport:
    """Train (or continue training) and write the model to `config.out`.

    Raises:
        NotFoundError: DATA does not exist.
        ConfigError: bad options, no captioned images, or OUT holds a checkpoint of a different run.
        WeightsUnavailableError: the starting weights are not on this machine.
    """
    config = config.validated()
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
    run = _Run(config, encoder, arch, train_set, val_set, eval_set)
    report = TrainReport(config.out, pairs=len(pairs), skipped=[f"{e.path}: {e.reason}" for e in pairs.failed])
    run.restore(report)
    run.loop(report, on_step, on_epoch)
    return report


class _Run:
    def __init__(self, config: TrainConfig, encoder: ClipEncoder, model_cfg: dict[str, Any], train_set: Pairs,
                 val_set: Pairs | None, eval_set: Pairs | None) -> None:
        import open_clip
        from open_clip.transform import PreprocessCfg, image_transform_v2

        self.config, self.encoder, self.model_cfg = config, encoder, model_cfg
        self.model = encoder.model
        self.train_set, self.val_set, self.eval_set = train_set, val_set, eval_set
        preprocess_cfg = PreprocessCfg(**self.model.visual.preprocess_cfg)
        # open_clip's training transform: a random crop of 90–100% of the image, no flips (captions say left/right).
        self.transform = image_transform_v2(preprocess_cfg, is_train=True)
        self.loss_fn = open_clip.ClipLoss()
        self.optimizer = _adamw(self.model, config.lr, config.weight_decay)
        self.epochs = config.epochs if config.epochs is not None else (10_000 if config.minutes else 10)
        self.steps_per_epoch = len(epoch_batches(train_set, config.batch_size, config.seed, 0, config.hard_negatives))
        self.step = 0
        self.elapsed = 0.0
        self.done_epochs = 0
        self.history: list[EpochReport] = []
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
                "hard_negatives": c.hard_negatives}

    def restore(self, report: TrainReport) -> None:
        path = self.config.out / STATE_FILE
        if self.config.restart or not path.is_file():
            return
        state = torch.load(path, map_location="cpu", weights_only=False)
        if state["signature"] != self.signature():
            raise ConfigError(f"{self.config.out} holds a checkpoint of a different run (model, data, seed or "
                              "batch size differ); pass --restart to start over, or another --out")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.elapsed, self.done_epochs = state["step"], state["elapsed"], state["epoch"]
        self.history = [_epoch_from_dict(d) for d in state["history"]]
        report.resumed_from = self.done_epochs
        report.epochs = list(self.history)

    def save(self) -> None:
        out = self.config.out
        out.mkdir(parents=True, exist_ok=True)
        save_model(self.model, self.model_cfg, out, self.encoder.tokenizer)
        state = {"signature": self.signature(), "model": self.model.state_dict(),
                 "optimizer": self.optimizer.state_dict(), "step": self.step, "elapsed": self.elapsed,
                 "epoch": self.done_epochs, "history": [e.to_dict() for e in self.history]}
        atomic_write(out / STATE_FILE, lambda tmp: torch.save(state, tmp))
        log = {"config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self.config).items()},
               "epochs_done": self.done_epochs, "complete": self._finished(),
               "history": [e.to_dict() for e in self.history]}
        atomic_write(out / LOG_FILE, lambda tmp: tmp.write_text(json.dumps(log, indent=1)))

    # -- the loop ----------------------------------------------------------------------------
    def loop(self, report: TrainReport, on_step: StepFn | None, on_epoch: EpochFn | None) -> None:
        if self._finished():
            self.save()  # a rerun of a finished run only makes sure the model files are there
            return
        while not self._finished():
            epoch = self.done_epochs + 1
            loss = self._epoch(epoch, on_step)
            self.done_epochs = epoch
            rate = self.step * self.config.batch_size / max(self.elapsed, 1e-9)
            result = EpochReport(epoch, loss, round(self.elapsed, 2), round(rate, 1),
                                 self._score(self.val_set), self._score(self.eval_set))
            self.history.append(result)
            report.epochs.append(result)
            self.save()
            if on_epoch:
                on_epoch(result)

    def _finished(self) -> bool:
        over_time = self.config.minutes is not None and self.elapsed >= self.config.minutes * 60
        return self.done_epochs >= self.epochs or over_time

    def _epoch(self, epoch: int, on_step: StepFn | None) -> float:
        c = self.config
        torch.manual_seed(c.seed * 100_003 + epoch)  # augmentation draws: the same per epoch, resumed or not
        batches = epoch_batches(self.train_set, c.batch_size, c.seed, epoch, c.hard_negatives)
        self.model.train()
        losses = []
        started = time.perf_counter()
        stream = batches_of_images(self.train_set, batches, self.transform, c.workers)
        for n, batch in enumerate(stream, start=1):
            if c.minutes is not None and self.elapsed >= c.minutes * 60:
                break
            self._set_lr()
            loss = self._train_step(batch.images, batch.texts)
            self.step += 1
            took = time.perf_counter() - started  # this step, and waiting for its batch
            started = time.perf_counter()
            self.elapsed += took
            losses.append(loss)
            if on_step:
                on_step(StepInfo(epoch, n, len(batches), loss, len(batch.texts) / max(took, 1e-9)))
        return float(np.mean(losses)) if losses else float("nan")

    def _train_step(self, images: torch.Tensor, texts: list[str]) -> float:
        device = self.encoder.device
        tokens = self._tokenize(texts).to(device)
        out = self.model(images.to(device).contiguous(memory_format=torch.channels_last), tokens)
        image_features, text_features, logit_scale = (
            (out["image_features"], out["text_features"], out["logit_scale"]) if isinstance(out, dict) else out[:3])
        loss = self.loss_fn(image_features, text_features, logit_scale)
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
            progress = min(1.0, self.elapsed / (c.minutes * 60))
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
                       scores(d["eval"]))
