"""The offline demo: sample data, a tiny model trained here (or reused), an index, example searches.

Nothing is downloaded. The sample set is generated (`multimodal.synthetic`) into the per-user data
folder, the tiny model (`mm-tiny`) is trained on it once and cached under a key made of its config,
its recipe and the data version, and the gallery (every attribute combination once, the held-out
ones included) is ingested into the demo's own index, apart from the user's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from multimodal import model_notes
from multimodal.config import Settings, default_data_dir
from multimodal.encoder import MODEL_CONFIG_DIR
from multimodal.index import Index
from multimodal.ingest import IngestReport
from multimodal.search import Term
from multimodal.store import Hit
from multimodal.synthetic import DATA_VERSION, caption, draw_image, generate
from multimodal.train import LOG_FILE, EpochFn, StepFn, TrainConfig, train

MODEL_ARCH = "mm-tiny"


@dataclass(frozen=True)
class Recipe:
    """How the demo's data and model are made; any change gives a new cache key (and a retrain).

    Two stages: training from scratch on full captions (in several word orders), then a short fine-tune on
    fresh images that also carry the colour + shape caption ("a red circle"), so that short queries leave
    size and position open. Taught from the start, short captions slowed learning shape and position a lot.
    """

    per_combination: int = 8  # stage 1 images per attribute combination (240 combinations outside held-out)
    short_per_combination: int = 4  # stage 2 images per combination (fresh draws)
    heldout_per_combination: int = 2
    image_size: int = 96
    epochs: int = 20
    short_epochs: int = 6
    batch_size: int = 64
    lr: float = 1.5e-3
    short_lr: float = 5e-4
    seed: int = 0


RECIPE = Recipe()


@dataclass(frozen=True)
class DemoData:
    train: Path  # captioned training images (combinations outside the held-out pairs), full captions
    short: Path  # fresh training images with all their captions, the colour + shape one included (stage 2)
    heldout: Path  # only held-out colour × shape pairs, never seen in training
    gallery: Path  # every combination once: what the demo index holds
    queries: Path  # a few images that are not in the index, for image → image and image → text


@dataclass(frozen=True)
class DemoAssets:
    data: DemoData
    model: Path  # open_clip folder: use as --model local-dir:PATH
    trained: bool  # False when a cached model was reused


@dataclass(frozen=True)
class Example:
    kind: str  # "text → image", "image → image", "image → text"
    query: str  # the text, or a description of the query image
    query_path: Path | None
    hits: list[Hit]


def demo_root() -> Path:
    """Where the demo keeps its data, models and index (inside the per-user data folder)."""
    return default_data_dir() / "demo"


def model_key(recipe: Recipe = RECIPE) -> str:
    """Names the cached model: the architecture file, the recipe and the data version."""
    config = (MODEL_CONFIG_DIR / f"{MODEL_ARCH}.json").read_text(encoding="utf-8")
    blob = json.dumps({"config": json.loads(config), "recipe": asdict(recipe), "data": DATA_VERSION},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def prepare_data(folder: Path, recipe: Recipe = RECIPE) -> DemoData:
    """Generate the sample sets into `folder` unless a complete copy of this version is there."""
    data = DemoData(folder / "train", folder / "short", folder / "heldout", folder / "gallery", folder / "queries")
    marker = folder / "complete.json"
    stamp = {"data_version": DATA_VERSION, "recipe": asdict(recipe)}
    if marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == stamp:
        return data
    r = recipe
    generate(data.train, split="train", per_combination=r.per_combination, seed=r.seed, size=r.image_size,
             captions="phrasings")
    generate(data.short, split="train", per_combination=r.short_per_combination, seed=r.seed + 3,
             size=r.image_size, captions="varied")
    generate(data.heldout, split="heldout", per_combination=r.heldout_per_combination, seed=r.seed + 1,
             size=r.image_size)
    generate(data.gallery, split="all", per_combination=1, seed=r.seed + 2, size=r.image_size)
    _write_queries(data.queries, r)
    marker.write_text(json.dumps(stamp), encoding="utf-8")
    return data


def prepare_model(data: DemoData, models: Path, recipe: Recipe = RECIPE, *, on_step: StepFn | None = None,
                  on_epoch: EpochFn | None = None, on_load: Callable[[int, int], None] | None = None,
                  on_stage: Callable[[str], None] | None = None, device: str = "auto") -> tuple[Path, bool]:
    """The cached tiny model for `recipe`, trained first if needed. Returns (folder, trained now).

    An interrupted run resumes where it stopped (each stage keeps its checkpoint)."""
    out = models / f"{MODEL_ARCH}-{model_key(recipe)}"
    if _complete(out):
        return out, False
    r = recipe
    base = models / f"{MODEL_ARCH}-{model_key(recipe)}-base"
    callbacks: dict[str, Any] = {"on_step": on_step, "on_epoch": on_epoch, "on_load": on_load}
    if on_stage:
        on_stage(f"stage 1/2: training {MODEL_ARCH} from scratch on {data.train}")
    train(TrainConfig(data=data.train, out=base, model=MODEL_ARCH, epochs=r.epochs, batch_size=r.batch_size,
                      lr=r.lr, seed=r.seed, val_fraction=0.0, eval_data=data.heldout, device=device), **callbacks)
    if on_stage:
        on_stage(f"stage 2/2: fine-tuning with short captions on {data.short}")
    train(TrainConfig(data=data.short, out=out, model=f"local-dir:{base}", epochs=r.short_epochs,
                      batch_size=r.batch_size, lr=r.short_lr, seed=r.seed, val_fraction=0.0,
                      eval_data=data.heldout, device=device), **callbacks)
    return out, True


def _complete(model: Path) -> bool:
    log = model / LOG_FILE
    return log.is_file() and bool(json.loads(log.read_text(encoding="utf-8")).get("complete"))


def prepare(root: Path | None = None, data_dir: Path | None = None, **callbacks: Any) -> DemoAssets:
    """Sample data and the tiny model, made or reused (`callbacks` go to `prepare_model`)."""
    root = root or demo_root()
    data = prepare_data(data_dir or root / "data")
    model, trained = prepare_model(data, root / "models", **callbacks)
    model_notes.write_note(model, model_notes.TOY_NOTE)  # said in `info`, the UI header and on stderr
    return DemoAssets(data, model, trained)


def open_demo_index(assets: DemoAssets, index_dir: Path | None = None, root: Path | None = None) -> Index:
    """The demo's own embedded index (one per model, so a retrained model never meets old vectors)."""
    folder = index_dir or (root or demo_root()) / "index" / assets.model.name
    return Index.open(Settings.resolve(index_dir=folder, model=f"local-dir:{assets.model}"))


def ingest_gallery(index: Index, assets: DemoAssets) -> IngestReport:
    """Bring the demo index up to date with the gallery (a no-op after the first run)."""
    return index.ingest(assets.data.gallery)


def example_searches(index: Index, assets: DemoAssets, k: int = 5) -> list[Example]:
    """A few searches that show the space at work: text → image, image → image, image → text."""
    searcher = index.searcher
    examples = [Example("text → image", text, None, searcher.search([Term("text", text)], k))
                for text in ("a red circle", "a small blue star on the left", "a large yellow circle at the top")]
    for path in sorted(assets.data.queries.glob("*.jpg"))[:1]:
        described = path.stem.replace("-", " ")
        examples.append(Example("image → image", described, path, searcher.search_image(path, k)))
        examples.append(Example("image → text", described, path, searcher.nearest_captions(path, k)))
    return examples


def _write_queries(folder: Path, recipe: Recipe) -> None:
    """Two images drawn fresh (so not in the index); named after their own caption."""
    import numpy as np

    from multimodal.synthetic import Attributes

    folder.mkdir(parents=True, exist_ok=True)
    for n, attrs in enumerate([Attributes("star", "green", "large", "right"),
                               Attributes("circle", "yellow", "small", "bottom")]):
        image = draw_image(attrs, np.random.default_rng([recipe.seed, 99, n]), recipe.image_size)
        image.save(folder / f"{caption(attrs).replace(' ', '-')}.jpg", quality=92, subsampling=0)


__all__ = ["RECIPE", "DemoAssets", "DemoData", "Example", "Recipe", "demo_root", "example_searches",
           "ingest_gallery", "model_key", "open_demo_index", "prepare", "prepare_data", "prepare_model"]
