"""Evaluation: Recall@K, zero-shot accuracy and ANN recall agree with brute force; the tiny model really retrieves."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from multimodal.cli.main import main
from multimodal.demo import DemoAssets
from multimodal.evaluate import ann_recall, evaluate_folder, load_captioned, top_confusions
from multimodal.index import Index
from multimodal.model_scores import EVAL_FILE
from multimodal.records import IMAGE
from multimodal.retrieval_metrics import recall_at_k
from multimodal.synthetic import caption, caption_fr, generate
from tests.fixtures.fake_encoder import FakeEncoder, stub_model_loads
from tests.fixtures.images import write_image


def _brute_recall(queries: np.ndarray, items: np.ndarray, relevant: list[set[int]], k: int) -> float:
    hits = 0
    for q, rel in zip(queries, relevant, strict=True):
        scored = sorted(range(len(items)), key=lambda i: -float(q @ items[i]))
        hits += bool(set(scored[:k]) & rel)
    return hits / len(queries)


def test_recall_at_k_agrees_with_a_brute_force_ranking() -> None:
    rng = np.random.default_rng(0)
    queries, items = rng.standard_normal((40, 8)), rng.standard_normal((30, 8))
    relevant = [set(rng.choice(30, size=int(rng.integers(1, 4)), replace=False).tolist()) for _ in range(40)]
    got = recall_at_k(queries, items, relevant, ks=(1, 3, 10))
    for k in (1, 3, 10):
        assert got[k] == pytest.approx(_brute_recall(queries, items, relevant, k))
    assert 0 < got[1] < got[10] < 1  # the case is not trivial


def test_folder_evaluation_matches_hand_computed_recall(tmp_path: Path) -> None:
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (120, 120, 120), (250, 250, 250)]
    texts = ["red thing", "green thing", "blue thing", "yellow thing", "grey thing", "red thing"]  # one repeats
    for n, (colour, text) in enumerate(zip(colours, texts, strict=True)):
        write_image(tmp_path / f"{n}.png", color=colour)
        (tmp_path / f"{n}.txt").write_text(text + "\n")
    encoder = FakeEncoder()
    report = evaluate_folder(tmp_path, encoder, ks=(1, 2))
    data = load_captioned(tmp_path)
    images = encoder.encode_images(torch.stack([encoder.preprocess(Image.open(p).convert("RGB")) for p in data.paths]))
    unique = list(dict.fromkeys(texts))
    text_vectors = encoder.encode_texts(unique)
    owners = [{i for i, caps in enumerate(data.captions) if t in caps} for t in unique]
    mine = [{unique.index(c) for c in caps} for caps in data.captions]
    assert report.retrieval is not None and report.retrieval.images == 6 and report.retrieval.texts == 5
    for k in (1, 2):
        assert report.retrieval.text_to_image[k] == pytest.approx(_brute_recall(text_vectors, images, owners, k))
        assert report.retrieval.image_to_text[k] == pytest.approx(_brute_recall(images, text_vectors, mine, k))
    assert report.zero_shot is None  # no class subfolders here


def test_zero_shot_accuracy_is_the_share_of_images_nearest_their_own_class_prompt(tmp_path: Path) -> None:
    for label, colour in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
        for n in range(3):
            write_image(tmp_path / label / f"{n}.png", seed=n, size=(32, 32))
            write_image(tmp_path / label / f"s{n}.png", color=colour)
            (tmp_path / label / f"s{n}.txt").write_text(f"a {label} square\n")
            (tmp_path / label / f"{n}.txt").write_text(f"noise {n}\n")
    encoder = FakeEncoder()
    report = evaluate_folder(tmp_path, encoder, templates=("a photo of a {label}", "a {label} thing"))
    data = load_captioned(tmp_path)
    images = encoder.encode_images(torch.stack([encoder.preprocess(Image.open(p).convert("RGB")) for p in data.paths]))
    prompts = {c: encoder.encode_texts([f"a photo of a {c}", f"a {c} thing"]).mean(axis=0) for c in ("blue", "red")}
    right = [max(prompts, key=lambda c: float(v @ prompts[c])) == label
             for v, label in zip(images, data.labels or [], strict=True)]
    assert report.zero_shot is not None and report.zero_shot.images == 12
    assert report.zero_shot.accuracy == pytest.approx(np.mean(right))
    assert set(report.zero_shot.per_class) == {"red", "blue"}


def test_ann_recall_of_a_small_index_counts_exact_neighbours_found(index: Index, photo_folder: Path) -> None:
    index.ingest(photo_folder)
    scores = ann_recall(index.store, k=3)
    assert scores.k == 3 and scores.vectors == 6 and scores.queries == 1  # one caption in the folder
    assert scores.recall == 1.0  # six vectors: HNSW is exact at this size
    images = list(index.store.iter_records(where={"kind": IMAGE}, embeddings=True))
    assert len(images) == scores.vectors


@pytest.mark.clip
@pytest.mark.slow
def test_tiny_model_reaches_recall_at_5_of_0_9_on_combinations_never_seen_in_training(
        demo_assets: DemoAssets, tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["eval", str(demo_assets.data.heldout), "--model", f"local-dir:{tiny_model}", "--json", "-q"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["n"] == 120
    assert result["text_to_image"]["R@5"] >= 0.9
    assert result["image_to_text"]["R@5"] >= 0.9
    assert "zero_shot" not in result and "ann" not in result


@pytest.mark.clip
@pytest.mark.slow
def test_eval_reports_zero_shot_for_class_folders_and_ann_recall_for_an_index(
        tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    generate(tmp_path / "shapes", split="all", class_folders="colour", seed=4, size=64)  # every combination once
    model = f"local-dir:{tiny_model}"
    assert main(["ingest", str(tmp_path / "shapes"), "--index", str(tmp_path / "idx"), "--model", model, "-q"]) == 0
    capsys.readouterr()
    code = main(["eval", str(tmp_path / "shapes"), "--index", str(tmp_path / "idx"), "--json", "-q"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["n"] == 300
    assert set(result["zero_shot"]["per_class"]) == {"red", "orange", "yellow", "green", "blue", "purple"}
    assert result["zero_shot"]["accuracy"] > 0.5  # chance is 1/6; "a photo of a red" is a caption it never saw
    assert result["ann"]["recall@10"] >= 0.9 and result["ann"]["vectors"] == 300
    # The generated captions carry attributes: analogies (every image × every other value of each attribute) and
    # one clustering per attribute besides the class folders. The arithmetic beats both one-term queries.
    analogies = result["analogies"]
    assert analogies["n"] == 4200 and analogies["accuracy"] >= analogies["baseline"] + 0.15
    assert set(result["clustering"]) == {"class", "shape", "colour", "size", "position"}
    shape = result["clustering"]["shape"]
    assert shape["nmi"] > shape["baseline"]["nmi"] + 0.15  # the space groups shapes; raw pixels hardly do


def test_eval_reports_recall_per_caption_language_and_the_translation_check(tmp_path: Path) -> None:
    """A fake encoder that knows what every caption of either language describes: every translation is found."""
    from multimodal.languages import language_scores
    from multimodal.synthetic import combinations, generate

    generate(tmp_path, split="heldout", size=32, languages=("en", "fr"))
    data = load_captioned(tmp_path)
    combos = combinations("all")
    meaning = {**{caption(a): n for n, a in enumerate(combos)}, **{caption_fr(a): n for n, a in enumerate(combos)}}

    def encode(texts: list[str]) -> np.ndarray:
        out = np.full((len(texts), len(combos)), 0.01)
        for n, text in enumerate(texts):
            if text in meaning:
                out[n, meaning[text]] += 1
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    image_vectors = encode([caps[0] for caps in data.captions])  # an image sits where its English caption does
    scores = language_scores(tmp_path, data.paths, data.captions, image_vectors, encode)
    assert scores is not None and set(scores.per_language) == {"en", "fr"}
    assert scores.per_language["fr"].texts == scores.per_language["en"].texts == len(data.paths)
    (translation,) = scores.translation
    assert (translation.source, translation.target, translation.pairs) == ("en", "fr", len(data.paths))
    assert translation.accuracy == 1.0
    shuffled = language_scores(tmp_path, data.paths, data.captions, image_vectors,
                               lambda texts: encode([t[::-1] for t in texts]))  # captions unknown: nothing shared
    assert shuffled is not None and shuffled.translation[0].accuracy < 0.5


def test_a_folder_in_one_language_has_no_language_section(tmp_path: Path) -> None:
    from multimodal.languages import language_scores
    from multimodal.synthetic import generate

    generate(tmp_path, split="heldout", size=32)
    data = load_captioned(tmp_path)
    vectors = np.eye(len(data.paths))
    assert language_scores(tmp_path, data.paths, data.captions, vectors, lambda t: np.eye(len(t))) is None


def test_top_confusions_count_each_true_to_predicted_mistake_most_first() -> None:
    truth = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    predicted = np.array([0, 1, 1, 1, 0, 2, 0, 1, 1])
    found = top_confusions(truth, predicted, ["a", "b", "c"], top=3)
    assert [(c.true, c.predicted, c.count) for c in found] == [("a", "b", 2), ("c", "b", 2), ("b", "a", 1)]
    assert found[0].share == pytest.approx(2 / 3) and found[1].share == pytest.approx(2 / 4)
    assert top_confusions(truth, truth, ["a", "b", "c"]) == ()  # no mistakes, nothing to list


def test_eval_json_of_class_folders_lists_confusions_and_a_model_folder_keeps_the_result(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for label, colour in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
        for n in range(3):
            write_image(tmp_path / "data" / label / f"{n}.png", color=colour if n else (120, 120, 120))
            (tmp_path / "data" / label / f"{n}.txt").write_text(f"a {label} square {n}\n")
    model = tmp_path / "model"
    model.mkdir()
    stub_model_loads(monkeypatch, FakeEncoder, module="multimodal.cli.eval")
    code = main(["eval", str(tmp_path / "data"), "--model", f"local-dir:{model}", "--json", "-q"])
    result = json.loads(capsys.readouterr().out)
    zero_shot = result["zero_shot"]
    assert code == 0 and set(zero_shot["per_class"]) == {"red", "blue"}
    wrong = round((1 - zero_shot["accuracy"]) * zero_shot["n"])
    assert wrong > 0  # the fake encoder misses some: there is something to list
    assert sum(c["n"] for c in zero_shot["confusions"]) == wrong  # two classes: every mistake is one pair
    assert all(c["true"] != c["predicted"] for c in zero_shot["confusions"])
    kept = json.loads((model / EVAL_FILE).read_text())
    assert kept["report"] == result and kept["data"] == str((tmp_path / "data").absolute())
