"""Clustering quality: k-means scores agree with scikit-learn computed directly, purity with a hand count, and
`evaluate_folder` clusters by class folders and by generated attributes, next to the pixel baseline."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score

from multimodal.clustering import cluster_scores, compare_clusterings, pixel_vectors, purity
from multimodal.evaluate import evaluate_folder, load_captioned
from multimodal.synthetic import generate
from tests.fixtures.colour_words import colour_image
from tests.fixtures.fake_encoder import FakeEncoder


def _blobs(seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Three overlapping Gaussian blobs in 5-D with known labels (overlap, so the scores are not all 1)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 2.0, (3, 5))
    labels = [name for name, n in (("a", 40), ("b", 30), ("c", 20)) for _ in range(n)]
    points = np.stack([centres["abc".index(label)] + rng.normal(0, 1.5, 5) for label in labels])
    return points, labels


def _hand_purity(labels: list[str], clusters: list[int]) -> float:
    return sum(Counter(lab for lab, c in zip(labels, clusters, strict=True) if c == k).most_common(1)[0][1]
               for k in set(clusters)) / len(labels)


def test_cluster_scores_agree_with_scikit_learn_on_known_labels() -> None:
    points, labels = _blobs()
    scores = cluster_scores(points, labels, seed=0)
    found = KMeans(n_clusters=3, n_init=10, random_state=0).fit_predict(points)
    assert scores.k == 3 and scores.n == 90
    assert scores.nmi == pytest.approx(normalized_mutual_info_score(labels, found))
    assert scores.ari == pytest.approx(adjusted_rand_score(labels, found))
    assert scores.silhouette == pytest.approx(silhouette_score(points, labels))  # the labels' own separation
    assert scores.purity == pytest.approx(_hand_purity(labels, found.tolist()))
    assert 0.2 < scores.ari < 0.95  # the blobs overlap: a case where the numbers can be wrong


def test_purity_counts_each_clusters_majority_label() -> None:
    assert purity(["a", "a", "b", "b", "b"], [0, 0, 0, 1, 1]) == pytest.approx(4 / 5)
    assert purity(["a", "b", "c"], [0, 0, 0]) == pytest.approx(1 / 3)


def test_well_separated_labels_cluster_perfectly_and_single_label_sets_are_skipped() -> None:
    rng = np.random.default_rng(1)
    points = np.concatenate([rng.normal(0, 0.1, (10, 4)), rng.normal(5, 0.1, (10, 4))])
    labels = ["x"] * 10 + ["y"] * 10
    scores = cluster_scores(points, labels)
    assert (scores.nmi, scores.ari, scores.purity) == (pytest.approx(1.0), pytest.approx(1.0), pytest.approx(1.0))
    with pytest.raises(ValueError, match="at least two labels"):
        cluster_scores(points, ["x"] * 20)
    assert compare_clusterings(points, [], {"one": ["x"] * 20}) == {}


def test_class_folders_are_clustered_on_the_embedding_and_on_pixels(tmp_path: Path) -> None:
    shades = {"red": (210, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 210)}
    for label, colour in shades.items():
        for n in range(6):
            colour_image(tmp_path / label / f"{n}.png", colour, seed=n)
            (tmp_path / label / f"{n}.txt").write_text(f"a {label} picture number {n}\n")
    encoder = FakeEncoder()
    report = evaluate_folder(tmp_path, encoder)
    assert report.clustering is not None and set(report.clustering) == {"class"}
    data = load_captioned(tmp_path)
    vectors = encoder.encode_images(torch.stack([encoder.preprocess(Image.open(p)) for p in data.paths]))
    labels = data.labels or []
    assert report.clustering["class"].embedding == cluster_scores(vectors, labels)
    assert report.clustering["class"].pixels == cluster_scores(pixel_vectors(data.paths), labels)
    assert report.clustering["class"].pixels.purity == 1.0  # flat colours: even pixels separate them
    out = report.to_dict()["clustering"]["class"]
    assert out["k"] == 3 and out["n"] == 18 and out["baseline"]["method"].startswith("k-means on 16x16")


def test_a_generated_folder_is_clustered_once_per_attribute(tmp_path: Path) -> None:
    root = generate(tmp_path / "g", split="heldout", size=32).root
    report = evaluate_folder(root, FakeEncoder())
    assert report.clustering is not None
    assert {name: c.embedding.k for name, c in report.clustering.items()} == {
        "shape": 5, "colour": 6, "size": 2, "position": 5}
    assert all(c.embedding.n == 60 and c.pixels.n == 60 for c in report.clustering.values())
