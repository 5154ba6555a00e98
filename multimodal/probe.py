"""A bias probe in the style of WEAT (Caliskan et al., 2017), with images as targets and words as attributes.

Targets X and Y are two groups of indexed images (a folder, or a tag from `multimodal tag`); attributes
A and B are two sets of words. For each image w, s(w) = mean cos(w, a in A) - mean cos(w, b in B): how
much nearer it sits to A's words than to B's. The effect size is the difference between the groups' mean
s, in units of the standard deviation of s over both groups (Cohen's d: 0.2 small, 0.5 medium, 0.8
large). The p-value is two-sided, from a permutation test: the share of random re-splits of the same
images into groups of the same sizes whose difference is at least as large.

What it cannot tell you: the test asks whether *these two image groups* differ along the direction these
words pick out — not whether the words are special. Two groups that differ visually in any way (lighting,
colour, background) differ along almost every direction, random words included, so compare against
control word sets before reading meaning into an effect. Results depend on the model, on the exact words
and on the prompt template; with few images or few words they are noisy; an association in the embedding
space says nothing about why it is there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from multimodal.batch_encode import encode_texts
from multimodal.encoder import Encoder
from multimodal.errors import ConfigError, NotFoundError
from multimodal.records import IMAGE
from multimodal.store import Store

DEFAULT_TEMPLATE = "{word}"  # bare words; try "a photo of {word}" as a control: results can move with it
DEFAULT_PERMUTATIONS = 10_000
SIGNIFICANCE = 0.05
_CHUNK = 500  # permutations evaluated per vectorised step (bounded memory on large groups)


@dataclass(frozen=True)
class Target:
    """A group of images: every image below a folder, or every image carrying a tag."""

    kind: str  # "folder" or "tag"
    value: str

    @property
    def name(self) -> str:
        return Path(self.value).name if self.kind == "folder" else self.value

    def where(self) -> dict[str, Any]:
        field = "folders" if self.kind == "folder" else "tags"
        return {"$and": [{"kind": IMAGE}, {field: {"$contains": self.value}}]}


@dataclass(frozen=True)
class Attribute:
    name: str
    words: list[str]


@dataclass(frozen=True)
class ProbeResult:
    targets: tuple[str, str]
    attributes: tuple[str, str]
    sizes: tuple[int, int]  # images in each target group
    mean_association: tuple[float, float]  # mean s(w) of each group (positive: nearer the first attribute)
    effect_size: float
    p_value: float
    permutations: int
    sentence: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_targets(text: str) -> tuple[Target, Target]:
    """'A,B' where each is `folder:PATH`, `tag:LABEL`, an existing folder, or (otherwise) a tag."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if len(parts) != 2:
        raise ConfigError(f"--targets needs two groups, e.g. ~/pics/cats,~/pics/dogs or tag:cat,tag:dog; got {text!r}")
    first, second = (_target(p) for p in parts)
    if first == second:
        raise ConfigError("--targets names the same group twice")
    return first, second


def _target(text: str) -> Target:
    kind, _, value = text.partition(":")
    if kind in ("folder", "tag") and value:
        return Target(kind, _folder(value) if kind == "folder" else value)
    path = Path(text).expanduser()
    if path.is_dir() or "/" in text or "\\" in text:
        return Target("folder", _folder(text))
    return Target("tag", text)


def _folder(text: str) -> str:
    return str(Path(text).expanduser().absolute())


def parse_attribute(text: str) -> Attribute:
    """'NAME:word,word,...' (or just 'word,word,...', named after its first word)."""
    name, sep, rest = text.partition(":")
    words = [w.strip() for w in (rest if sep else name).split(",") if w.strip()]
    if not words:
        raise ConfigError(f"an attribute set needs words, e.g. 'pleasant:joy,love,peace'; got {text!r}")
    return Attribute(name.strip() if sep and name.strip() else words[0], words)


def weat(x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray, *,
         permutations: int = DEFAULT_PERMUTATIONS, seed: int = 0) -> tuple[float, float, float, float]:
    """Effect size, two-sided permutation p-value, and mean association of X and of Y (rows: unit vectors)."""
    both = np.concatenate([x, y])
    s = (both @ a.T).mean(axis=1) - (both @ b.T).mean(axis=1)
    nx = len(x)
    observed = s[:nx].mean() - s[nx:].mean()
    spread = s.std(ddof=1)
    effect = float(observed / spread) if spread > 0 else 0.0
    rng = np.random.default_rng(seed)
    extreme = 0
    for start in range(0, permutations, _CHUNK):
        rows = min(_CHUNK, permutations - start)
        shuffled = s[rng.permuted(np.tile(np.arange(len(s)), (rows, 1)), axis=1)]
        diffs = shuffled[:, :nx].mean(axis=1) - shuffled[:, nx:].mean(axis=1)
        extreme += int(np.sum(np.abs(diffs) >= abs(observed) - 1e-12))
    p_value = (extreme + 1) / (permutations + 1)  # the observed split counts as one of the splits
    return effect, float(p_value), float(s[:nx].mean()), float(s[nx:].mean())


def run_probe(store: Store, encoder: Encoder, targets: tuple[Target, Target], attributes: tuple[Attribute, Attribute],
              *, template: str = DEFAULT_TEMPLATE, permutations: int = DEFAULT_PERMUTATIONS,
              seed: int = 0) -> ProbeResult:
    """Measure how differently two image groups associate with two word sets.

    Raises:
        NotFoundError: a group with fewer than 2 indexed images.
        ConfigError: groups that overlap, a bad template or permutation count.
        EmptyIndexError: nothing indexed yet.
    """
    if "{word}" not in template:
        raise ConfigError("--template needs a {word} placeholder, e.g. 'a photo of {word}'")
    if permutations < 100:
        raise ConfigError(f"--permutations must be at least 100, got {permutations}")
    store.require_ingested()
    groups = [_vectors(store, t) for t in targets]
    shared = set(groups[0]) & set(groups[1])
    if shared:
        raise ConfigError(f"the two target groups share {len(shared)} images; pick groups that do not overlap")
    x, y = (_unit(np.stack(list(g.values()))) for g in groups)
    a, b = (_unit(encode_texts(encoder, [template.format(word=w) for w in attr.words])) for attr in attributes)
    effect, p_value, mean_x, mean_y = weat(x, y, a, b, permutations=permutations, seed=seed)
    names = (targets[0].name, targets[1].name)
    attr_names = (attributes[0].name, attributes[1].name)
    return ProbeResult(names, attr_names, (len(x), len(y)), (round(mean_x, 6), round(mean_y, 6)),
                       round(effect, 4), round(p_value, 5), permutations,
                       explain(names, attr_names, effect, p_value))


def explain(targets: tuple[str, str], attributes: tuple[str, str], effect: float, p_value: float) -> str:
    """One plain sentence saying what an effect size and p-value mean."""
    (x, y), (a, b) = targets, attributes
    size = _magnitude(effect)
    if p_value >= SIGNIFICANCE:
        return (f"No reliable difference: images in '{x}' and '{y}' sit about equally near the '{a}' and '{b}' "
                f"words (effect size {effect:+.2f}, p = {p_value:.2g}; random splits of the same images differ "
                "this much or more that often).")
    near, far = (x, y) if effect > 0 else (y, x)
    return (f"Images in '{near}' sit nearer the '{a}' words, relative to the '{b}' words, than images in '{far}' "
            f"do — a {size} effect (effect size {effect:+.2f}, p = {p_value:.2g}: random splits of the same images "
            "rarely differ this much); it shows an association in this model's space, not its cause.")


def _magnitude(effect: float) -> str:
    d = abs(effect)
    return "negligible" if d < 0.2 else "small" if d < 0.5 else "medium" if d < 0.8 else "large"


def _vectors(store: Store, target: Target) -> dict[str, np.ndarray]:
    found = {r.id: r.embedding for r in store.iter_records(where=target.where(), embeddings=True)
             if r.embedding is not None}
    if len(found) < 2:
        hint = ("; run `multimodal tag` first" if target.kind == "tag" else "; is it ingested?")
        raise NotFoundError(f"the {target.kind} {target.value!r} holds {len(found)} indexed images, need 2{hint}")
    return found


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
