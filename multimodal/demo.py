"""The offline demo: sample data, a tiny model that ships with the project (or is retrained here), an
index, example searches.

Nothing is downloaded. The sample set is generated (`multimodal.synthetic`) into the per-user data
folder. The model is the one under `data/demo-model/`, which this project's own `multimodal train`
produced with the recipe recorded beside it (`recipe.json`: the data version, the exact command, the
seed, the weights' checksum and the scores measured on held-out data). `multimodal demo --retrain` runs
that recipe here and caches the result under a key of its config, recipe and data version. The gallery
(every attribute combination once, the held-out ones included) goes into the demo's own index, apart
from the user's.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from multimodal import model_notes, synthetic_apart
from multimodal.config import Settings, default_data_dir
from multimodal.encoder import MODEL_CONFIG_DIR
from multimodal.index import Index
from multimodal.ingest import IngestReport
from multimodal.search import Term
from multimodal.store import Hit
from multimodal.synthetic import DATA_VERSION, caption, draw_image, generate
from multimodal.train import LOG_FILE, EpochFn, StepFn, train

MODEL_ARCH = "mm-demo"  # mm-tiny with a twice as wide image tower: at width 16 shape stayed at chance
SHIPPED_MODEL = Path(__file__).resolve().parent.parent / "data" / "demo-model"
MANIFEST_FILE = "recipe.json"
DATA_PLACEHOLDER, OUT_PLACEHOLDER = "DATA", "OUT"


@dataclass(frozen=True)
class Recipe:
    """How the demo's data and model are made; any change gives a new cache key (and a retrain).

    One stage from scratch on captions in English and French. Each image carries its full caption, the same
    in other word orders, the colour + shape caption ("a red circle"), the caption without its colour
    ("a star on the left") and one caption per attribute ("a star", "a red shape", "a small shape", "a shape
    on the left"); every step trains on all of them, a caption shared by two images counting as right for
    both (multimodal.contrastive_loss). The first epochs use only the captions that name no colour
    (`--colourless-epochs`): a model learns colour first and then reads shapes through it; this way it learns
    shapes first. Half the batches gather images whose captions differ in one word (`--hard-negatives`), so
    colour alone cannot tell them apart. Beside the coloured shapes, the training set holds pictures that show
    one attribute apart (`apart_per_value`, multimodal.synthetic_apart): shapes in colours the captions never
    name, and colour blobs that are no shape. (What this fixes for pairs never seen in training, and what not
    yet: docs/training.md.)
    """

    per_combination: int = 16  # training images per attribute combination (240 combinations outside held-out)
    heldout_per_combination: int = 2
    image_size: int = 96
    languages: tuple[str, ...] = ("en", "fr")
    captions: str = "rich"  # synthetic.generate's caption style for the training set
    epochs: int = 36
    batch_size: int = 64
    lr: float = 1.5e-3
    hard_negatives: float = 0.5
    colourless_epochs: int = 8
    apart_per_value: int = 6  # pictures per shape and per colour shown apart (multimodal.synthetic_apart)
    val_fraction: float = 0.1  # picks the epoch kept; its short captions need shape, unlike the held-out pairs'
    seed: int = 0


RECIPE = Recipe()


@dataclass(frozen=True)
class DemoData:
    train: Path  # captioned training images (combinations outside the held-out pairs); made only to train
    heldout: Path  # only held-out colour × shape pairs, never seen in training
    gallery: Path  # every combination once: what the demo index holds
    queries: Path  # a few images that are not in the index, for image → image and image → text


@dataclass(frozen=True)
class DemoAssets:
    data: DemoData
    model: Path  # open_clip folder: use as --model local-dir:PATH
    trained: bool  # True when the model was trained by this call
    shipped: bool = False  # True for the model that ships under data/demo-model


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


def train_command(recipe: Recipe = RECIPE, data: str = DATA_PLACEHOLDER, out: str = OUT_PLACEHOLDER) -> list[str]:
    """The `multimodal train` command line of the recipe: what `--retrain` runs and what `recipe.json` records."""
    r = recipe
    return ["multimodal", "train", f"{data}/train", "--out", out, "--model", MODEL_ARCH,
            "--epochs", str(r.epochs), "--batch-size", str(r.batch_size), "--lr", str(r.lr),
            "--hard-negatives", str(r.hard_negatives), "--colourless-epochs", str(r.colourless_epochs),
            "--seed", str(r.seed), "--val-fraction", str(r.val_fraction),
            "--eval-data", f"{data}/heldout"]


def prepare_data(folder: Path, recipe: Recipe = RECIPE, *, with_train: bool = False) -> DemoData:
    """Generate the sample sets into `folder` unless a complete copy of this version is there. The training
    set (a few thousand images) is only written when `with_train` is set: the shipped model needs none."""
    data = DemoData(folder / "train", folder / "heldout", folder / "gallery", folder / "queries")
    r = recipe
    stamp = json.loads(json.dumps({"data_version": DATA_VERSION, "recipe": asdict(recipe)}))  # as stored: lists
    marker = folder / "complete.json"
    if not (marker.is_file() and json.loads(marker.read_text(encoding="utf-8")) == stamp):
        generate(data.heldout, split="heldout", per_combination=r.heldout_per_combination, seed=r.seed + 1,
                 size=r.image_size, languages=r.languages)
        generate(data.gallery, split="all", per_combination=1, seed=r.seed + 2, size=r.image_size,
                 languages=r.languages)
        _write_queries(data.queries, r)
        (folder / "train-complete.json").unlink(missing_ok=True)
        marker.write_text(json.dumps(stamp), encoding="utf-8")
    train_marker = folder / "train-complete.json"
    if with_train and not (train_marker.is_file()
                           and json.loads(train_marker.read_text(encoding="utf-8")) == stamp):
        generate(data.train, split="train", per_combination=r.per_combination, seed=r.seed, size=r.image_size,
                 captions=r.captions, languages=r.languages)  # type: ignore[arg-type]
        if r.apart_per_value:
            rows = synthetic_apart.write(data.train, r.apart_per_value, seed=r.seed, size=r.image_size,
                                         languages=r.languages)
            with open(data.train / "captions.jsonl", "a", encoding="utf-8") as f:
                f.writelines(json.dumps(row) + "\n" for row in rows)
        train_marker.write_text(json.dumps(stamp), encoding="utf-8")
    return data


def prepare_model(data: DemoData, models: Path, recipe: Recipe = RECIPE, *, on_step: StepFn | None = None,
                  on_epoch: EpochFn | None = None, on_load: Callable[[int, int], None] | None = None,
                  on_stage: Callable[[str], None] | None = None, device: str = "auto") -> tuple[Path, bool]:
    """The tiny model for `recipe`, trained here first unless cached. Returns (folder, trained now).

    Runs exactly `train_command(recipe)`, parsed by the CLI's own parser; an interrupted run resumes."""
    from multimodal.cli.train import config_from_args, parser

    out = models / f"{MODEL_ARCH}-{model_key(recipe)}"
    if _complete(out):
        return out, False
    command = train_command(recipe, str(data.train.parent), str(out))
    if on_stage:
        on_stage(f"training {MODEL_ARCH} from scratch: {shlex.join(command)}")
    config = config_from_args(parser().parse_args([*command[2:], "--device", device]))
    train(config, on_step=on_step, on_epoch=on_epoch, on_load=on_load)
    return out, True


def _complete(model: Path) -> bool:
    log = model / LOG_FILE
    return log.is_file() and bool(json.loads(log.read_text(encoding="utf-8")).get("complete"))


@dataclass(frozen=True)
class ShippedModel:
    folder: Path
    manifest: dict[str, Any]  # recipe.json: recipe, command, data version, checksum, scores

    @property
    def key(self) -> str:
        return str(self.manifest["sha256"])[:12]


def shipped_model(folder: Path = SHIPPED_MODEL) -> ShippedModel | None:
    """The shipped demo model, if it is present, matches its recorded checksum and the current data version
    and recipe; otherwise None (the demo then trains its own)."""
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
        weights = (folder / "open_clip_model.safetensors").read_bytes()
    except (OSError, json.JSONDecodeError):
        return None
    if (hashlib.sha256(weights).hexdigest() != manifest.get("sha256")
            or manifest.get("data_version") != DATA_VERSION
            or manifest.get("recipe") != json.loads(json.dumps(asdict(RECIPE)))):
        return None
    return ShippedModel(folder, manifest)


def prepare(root: Path | None = None, data_dir: Path | None = None, *, retrain: bool = False,
            **callbacks: Any) -> DemoAssets:
    """Sample data and the demo model: the shipped one, or (with `retrain`, or when it is missing or does
    not match) the recipe trained here and cached (`callbacks` go to `prepare_model`)."""
    root = root or demo_root()
    folder = data_dir or root / "data"
    shipped = None if retrain else shipped_model()
    data = prepare_data(folder, with_train=shipped is None)
    if shipped is not None:
        return DemoAssets(data, shipped.folder, trained=False, shipped=True)
    model, trained = prepare_model(data, root / "models", **callbacks)
    model_notes.write_note(model, model_notes.TOY_NOTE)  # said in `info`, the UI header and on stderr
    return DemoAssets(data, model, trained)


def open_demo_index(assets: DemoAssets, index_dir: Path | None = None, root: Path | None = None) -> Index:
    """The demo's own embedded index (one per model, so a retrained model never meets old vectors)."""
    name = f"shipped-{shipped.key}" if assets.shipped and (shipped := shipped_model()) else assets.model.name
    folder = index_dir or (root or demo_root()) / "index" / name
    return Index.open(Settings.resolve(index_dir=folder, model=f"local-dir:{assets.model}"))


def ingest_gallery(index: Index, assets: DemoAssets) -> IngestReport:
    """Bring the demo index up to date with the gallery (a no-op after the first run)."""
    return index.ingest(assets.data.gallery)


# The demo's example text queries and what the first result must show (the UI offers the same ones): four on
# pairs the model trained on and two on pairs it never saw (`synthetic.heldout_pairs`: red squares, yellow circles).
EXAMPLE_QUERIES: dict[str, dict[str, str]] = {
    "a red circle": {"colour": "red", "shape": "circle"},
    "a small blue star on the left": {"colour": "blue", "shape": "star", "size": "small", "position": "left"},
    "a large yellow star at the top": {"colour": "yellow", "shape": "star", "size": "large", "position": "top"},
    "un cercle rouge": {"colour": "red", "shape": "circle"},
    "a red square": {"colour": "red", "shape": "square"},
    "un petit cercle jaune en bas": {"colour": "yellow", "shape": "circle", "size": "small", "position": "bottom"},
}
_QUERY_IMAGES = [("star", "green", "large", "right"), ("circle", "yellow", "small", "bottom")]


def example_searches(index: Index, assets: DemoAssets, k: int = 5) -> list[Example]:
    """A few searches that show the space at work: text → image (English and French), image → image,
    image → text."""
    searcher = index.searcher
    examples = [Example("text → image", text, None, searcher.search([Term("text", text)], k))
                for text in EXAMPLE_QUERIES]
    for path in sorted(assets.data.queries.glob("*.jpg"))[:1]:
        described = path.stem.replace("-", " ")
        examples.append(Example("image → image", described, path, searcher.search_image(path, k)))
        examples.append(Example("image → text", described, path, searcher.nearest_captions(path, k)))
    return examples


def expected_attributes(example: Example) -> dict[str, str]:
    """What the first result of an example must show: the words of a text query, or every attribute of
    the query image (the gallery holds each combination once)."""
    from multimodal.synthetic import Attributes

    if example.query_path is None:
        return EXAMPLE_QUERIES[example.query]
    for values in _QUERY_IMAGES:
        attrs = Attributes(*values)
        if caption(attrs) == example.query:
            return dict(attrs.__dict__)
    raise KeyError(example.query)


def _write_queries(folder: Path, recipe: Recipe) -> None:
    """Two images drawn fresh (so not in the index); named after their own caption."""
    import numpy as np

    from multimodal.synthetic import Attributes

    folder.mkdir(parents=True, exist_ok=True)
    for n, attrs in enumerate(Attributes(*values) for values in _QUERY_IMAGES):
        image = draw_image(attrs, np.random.default_rng([recipe.seed, 99, n]), recipe.image_size)
        image.save(folder / f"{caption(attrs).replace(' ', '-')}.jpg", quality=92, subsampling=0)


__all__ = ["EXAMPLE_QUERIES", "RECIPE", "SHIPPED_MODEL", "DemoAssets", "DemoData", "Example", "Recipe",
           "ShippedModel", "demo_root", "example_searches", "expected_attributes", "ingest_gallery", "model_key",
           "open_demo_index", "prepare", "prepare_data", "prepare_model", "shipped_model", "train_command"]
