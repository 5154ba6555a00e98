"""Weak matches say so (`Hit.match`), random weights and toy models say so (`IndexInfo.note`), and a failed
first ingest leaves no index behind. Fast: the fake encoder, with model identities set per test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from multimodal import match, model_notes, vocabulary
from multimodal.config import Settings
from multimodal.errors import ConfigError
from multimodal.index import Index
from multimodal.model_spec import ModelSpec
from multimodal.store import Store
from tests.fixtures.fake_encoder import FakeEncoder
from tests.fixtures.images import write_image


def encoder_for(spec: ModelSpec) -> FakeEncoder:
    encoder = FakeEncoder()
    encoder.spec = spec
    return encoder


def model_folder(tmp_path: Path, captions: list[str] | None = None, note: str | None = None) -> ModelSpec:
    """A local-dir model identity whose folder holds a vocabulary (and a note) but no weights: the fake encodes."""
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    if captions is not None:
        vocabulary.save(folder, vocabulary.Vocabulary.from_texts(captions))
    if note:
        model_notes.write_note(folder, note)
    return ModelSpec.parse(f"local-dir:{folder}", None)


@pytest.fixture
def many_photos(tmp_path: Path) -> Path:
    root = tmp_path / "many"
    for n in range(30):
        write_image(root / f"noise{n:02d}.png", seed=100 + n)
    return root


def test_an_out_of_vocabulary_query_is_weak_and_an_in_vocabulary_one_strong(settings: Settings, tmp_path: Path,
                                                                            photo_folder: Path) -> None:
    spec = model_folder(tmp_path, ["a red square", "a small blue circle on the left"])
    index = Index.open(settings, encoder=encoder_for(spec))
    index.ingest(photo_folder)
    weak = index.search("a bowl of soup", k=4)
    assert len(weak) == 4 and {h.match for h in weak} == {match.WEAK}
    assert {h.match for h in index.search("a red square", k=4)} == {match.STRONG}
    assert {h.match for h in index.search("a red dog", k=4)} == {match.WEAK}  # one unknown word is enough
    verdict = index.searcher.verdict(index.searcher.text_vector("a red dog"), ["a red dog"])
    assert verdict.unknown_words == ("dog",) and "dog" in verdict.reason


def test_an_index_built_with_random_weights_has_no_strong_match(index: Index, photo_folder: Path) -> None:
    index.ingest(photo_folder)  # the fake encoder's identity is ("fake", "none"): random weights
    hits = index.searcher.search_image(photo_folder / "img1.jpg", k=3)
    assert hits[0].score == pytest.approx(1.0, abs=1e-5) and {h.match for h in hits} == {match.WEAK}


def test_the_collection_z_score_marks_a_query_that_stands_out_strong_and_one_that_does_not_weak(
        settings: Settings, many_photos: Path) -> None:
    index = Index.open(settings, encoder=encoder_for(ModelSpec("fake", "some-pretrained-tag")))
    index.ingest(many_photos)
    searcher = index.searcher
    own = searcher.search_image(many_photos / "noise07.png", k=3)  # its own stored vector: far above the rest
    assert own[0].match == match.STRONG
    assert searcher.verdict(searcher.image_vector(many_photos / "noise07.png")).z >= match.Z_STRONG
    # The mean of all images is about as close to every image as to its best one.
    sample = searcher.judge.sample()
    centre = sample.mean(axis=0) / np.linalg.norm(sample.mean(axis=0))
    bland = searcher.search_vector(centre.astype(np.float32), k=3)
    assert searcher.verdict(centre).z < match.Z_STRONG and {h.match for h in bland} == {match.WEAK}


def test_the_sample_is_read_again_when_the_index_grows(settings: Settings, many_photos: Path, tmp_path: Path) -> None:
    index = Index.open(settings, encoder=encoder_for(ModelSpec("fake", "tag")))
    index.ingest(many_photos)
    judge = match.MatchJudge(index.store, recheck_seconds=0.0)
    assert len(judge.sample()) == 30
    write_image(tmp_path / "more" / "extra.png", seed=7)
    index.ingest(tmp_path / "more")
    assert len(judge.sample()) == 31
    lazy = match.MatchJudge(index.store, recheck_seconds=3600.0)
    assert len(lazy.sample()) == 31
    write_image(tmp_path / "more" / "extra2.png", seed=8)
    index.ingest(tmp_path / "more")
    assert len(lazy.sample()) == 31 and len(judge.sample()) == 32  # the lazy one has not looked again yet


def test_the_sample_is_capped_and_a_tiny_index_is_judged_without_a_z_score(settings: Settings,
                                                                          many_photos: Path) -> None:
    index = Index.open(settings, encoder=encoder_for(ModelSpec("fake", "tag")))
    index.ingest(many_photos)
    judge = match.MatchJudge(index.store, sample_size=match.MIN_SAMPLE - 1)
    assert len(judge.sample()) == match.MIN_SAMPLE - 1
    verdict = judge.judge(judge.sample()[0])
    assert verdict.z is None and verdict.match == match.STRONG  # no evidence either way: not flagged


def test_vocabulary_words_are_unicode_lower_case_without_stop_words_and_plural_aware() -> None:
    vocab = vocabulary.Vocabulary.from_texts(["une petite étoile bleue à gauche", "a small red circle on the left"])
    assert vocabulary.content_words("Une ÉTOILE bleue, à gauche") == ["étoile", "bleue", "gauche"]
    assert vocab.unknown("des étoiles bleues") == [] and vocab.unknown("red circles") == []
    assert vocab.unknown("un bol de soupe à gauche") == ["bol", "soupe"]
    assert vocab.unknown("a bowl of soup") == ["bowl", "soup"]


def test_training_records_a_vocabulary_only_for_closed_vocabulary_models(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    vocabulary.record_training(scratch, ModelSpec("mm-tiny", "none"), [["a red circle"], ["a blue star"]])
    assert vocabulary.load(scratch).words == {"red", "circle", "blue", "star"}
    tuned = tmp_path / "tuned"
    vocabulary.record_training(tuned, ModelSpec.parse(f"local-dir:{scratch}", None), [["un carré vert"]])
    assert vocabulary.load(tuned).words == {"red", "circle", "blue", "star", "carré", "vert"}
    assert json.loads((tuned / vocabulary.VOCABULARY_FILE).read_text(encoding="utf-8"))["words"][0] == "blue"
    vocabulary.record_training(tuned, ModelSpec("ViT-B-32", "laion2b_s34b_b79k"), [["a red circle"]])
    assert vocabulary.load(tuned) is None  # fine-tuned from pretrained weights: open vocabulary, stale file gone


def test_info_says_random_weights_and_the_index_records_it(index: Index, photo_folder: Path) -> None:
    index.ingest(photo_folder)
    info = Store.open(index.settings).info()
    assert info.random_weights and info.note == model_notes.RANDOM_NOTE
    assert "results carry no meaning" in info.note
    assert index.store.metadata()["mm_weights"] == "random"


def test_a_model_folder_note_reaches_info_and_a_plain_model_has_none(settings: Settings, tmp_path: Path,
                                                                       photo_folder: Path) -> None:
    spec = model_folder(tmp_path, note=model_notes.TOY_NOTE)
    index = Index.open(settings, encoder=encoder_for(spec))
    index.ingest(photo_folder)
    info = index.info()
    assert info.note == model_notes.TOY_NOTE and not info.random_weights
    assert index.store.metadata()["mm_note"] == model_notes.TOY_NOTE
    plain = Index.open(Settings.resolve(index_dir=tmp_path / "plain"), encoder=encoder_for(ModelSpec("fake", "tag")))
    plain.ingest(photo_folder)
    assert plain.info().note is None


def test_a_failed_first_ingest_leaves_no_index_and_another_model_may_follow(tmp_path: Path,
                                                                              photo_folder: Path) -> None:
    folder = tmp_path / "fresh"
    bad = Index.open(Settings.resolve(index_dir=folder, compress="pca16"), encoder=FakeEncoder())
    with pytest.raises(ConfigError, match="pca16 needs at least 16 images"):
        bad.ingest(photo_folder)  # fails after the collection was created for its model
    info = Store.open(Settings.resolve(index_dir=folder)).info()
    assert info.model is None and info.images == 0
    other = Index.open(Settings.resolve(index_dir=folder), encoder=FakeEncoder(name="another"))
    assert other.ingest(photo_folder).added == 6
    assert other.info().model == ModelSpec("another", "none")
