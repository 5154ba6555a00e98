"""The synthetic captioned set: deterministic, captions true to the pixels' attributes, an honest held-out split."""

from __future__ import annotations

import json
from pathlib import Path

from multimodal.evaluate import load_captioned
from multimodal.synthetic import (
    COLOURS,
    SHAPES,
    VOCABULARIES,
    caption,
    combinations,
    generate,
    heldout_pairs,
    read_attributes,
    short_caption,
)

FUNCTION_WORDS = {"the", "a", "on", "at", "in", "near"}  # words that name no position by themselves


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_writes_identical_files_and_another_seed_does_not(tmp_path: Path) -> None:
    generate(tmp_path / "a", split="heldout", seed=7, size=48)
    generate(tmp_path / "b", split="heldout", seed=7, size=48)
    generate(tmp_path / "c", split="heldout", seed=8, size=48)
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert a == b
    assert a.keys() == c.keys() and a["00000.jpg"] != c["00000.jpg"]


def test_heldout_colour_shape_pairs_never_appear_in_training(tmp_path: Path) -> None:
    held = heldout_pairs()
    assert {c for c, _ in held} == set(COLOURS) and {s for _, s in held} == set(SHAPES)  # every word is taught
    generate(tmp_path / "train", split="train", size=32)
    generate(tmp_path / "held", split="heldout", size=32)
    train = {(a.colour, a.shape) for a in read_attributes(tmp_path / "train").values()}
    test = {(a.colour, a.shape) for a in read_attributes(tmp_path / "held").values()}
    assert test == set(held) and not train & test
    assert len(combinations("train")) + len(combinations("heldout")) == len(combinations("all"))


def test_captions_name_the_pictured_attributes_and_the_short_one_only_colour_and_shape(tmp_path: Path) -> None:
    summary = generate(tmp_path, split="all", captions="varied", size=32)
    rows = [json.loads(line) for line in (tmp_path / "captions.jsonl").read_text().splitlines()]
    attrs = read_attributes(tmp_path)
    en = VOCABULARIES["en"]
    assert summary.images == len(attrs) == len(combinations("all")) and summary.captions == len(rows) == 6 * 300
    for row in rows:
        a = attrs[tmp_path.absolute() / row["file"]]
        named = [en.shapes[a.shape], en.colours[a.colour]]
        left_out = [en.sizes[a.size], en.positions[a.position]]
        assert all(word in row["caption"] for word in named), row
        if row["caption"] == short_caption(a):
            assert not any(word in row["caption"] for word in left_out), row
        else:
            assert all(word in row["caption"] for word in left_out), row
    first: dict[str, str] = {}
    for row in rows:
        first.setdefault(row["file"], row["caption"])
    assert all(text == caption(attrs[tmp_path.absolute() / f]) for f, text in first.items())


def test_alt_vocabulary_shares_no_attribute_word_with_english() -> None:
    en, alt = VOCABULARIES["en"], VOCABULARIES["alt"]
    for field in ("shapes", "colours", "sizes"):
        assert not set(getattr(en, field).values()) & set(getattr(alt, field).values())
    # Position phrases share only function words ("in the center" / "in the middle"); no word names a place.
    en_words = {w for phrase in en.positions.values() for w in phrase.split()}
    alt_words = {w for phrase in alt.positions.values() for w in phrase.split()}
    assert en_words & alt_words <= FUNCTION_WORDS
    assert len(alt_words - FUNCTION_WORDS) >= len(alt.positions)  # the alt phrases do name places


def test_each_alt_position_phrase_tells_its_position_apart() -> None:
    alt = VOCABULARIES["alt"]
    assert len(set(alt.positions.values())) == len(alt.positions)
    for position, phrase in alt.positions.items():
        others = {w for p, text in alt.positions.items() if p != position for w in text.split()}
        assert set(phrase.split()) - others - FUNCTION_WORDS, position


def test_an_alt_set_words_every_caption_in_the_alt_vocabulary(tmp_path: Path) -> None:
    """The captions `generate(vocabulary="alt")` writes, read back: each names its image's attributes, position
    included, in the alternative words, and no English attribute word appears."""
    generate(tmp_path, split="heldout", vocabulary="alt", captions="phrasings", size=32)
    rows = [json.loads(line) for line in (tmp_path / "captions.jsonl").read_text().splitlines()]
    en, alt = VOCABULARIES["en"], VOCABULARIES["alt"]
    english = {w for field in ("shapes", "colours", "sizes", "positions") for phrase in getattr(en, field).values()
               for w in phrase.split()} - FUNCTION_WORDS
    assert rows and {row["position"] for row in rows} == set(alt.positions)
    for row in rows:
        text = row["caption"]
        assert alt.positions[row["position"]] in text and alt.shapes[row["shape"]] in text, row
        assert alt.colours[row["colour"]] in text and alt.sizes[row["size"]] in text, row
        assert not english & set(text.split()), row


def test_class_folders_are_read_back_as_zero_shot_labels(tmp_path: Path) -> None:
    generate(tmp_path, split="heldout", class_folders="shape", size=32)
    data = load_captioned(tmp_path)
    attrs = read_attributes(tmp_path)
    assert data.labels is not None and len(data.labels) == len(data.paths) == len(attrs)
    assert all(label == attrs[path].shape for label, path in zip(data.labels, data.paths, strict=True))


def test_attribute_captions_name_one_attribute_each_in_both_languages() -> None:
    from multimodal.colour_words import names_a_colour
    from multimodal.synthetic import Attributes, attribute_captions, captions_for

    star = Attributes("star", "green", "small", "left")
    assert attribute_captions(star) == ["a star", "a green shape", "a small shape", "a shape on the left"]
    # French: "forme" is feminine, so its adjectives agree with it, not with the shape's noun.
    assert attribute_captions(Attributes("circle", "green", "small", "top"), "fr") == [
        "un cercle", "une forme verte", "une petite forme", "une forme en haut"]
    rich = captions_for(star, "rich")
    assert set(attribute_captions(star)) <= set(rich)
    # Only the colour caption of the four names a colour: the others stay true of a star of any colour.
    assert [names_a_colour(t) for t in attribute_captions(star, "fr")] == [False, True, False, False]


def test_colour_words_are_read_as_words_not_substrings() -> None:
    from multimodal.colour_words import colourless, names_a_colour

    assert names_a_colour("Une étoile VERTE, petite") and names_a_colour("a red-brick wall")
    assert not names_a_colour("a credit card on a bored cat")  # "red" inside other words
    assert colourless(["a red star", "a star", "une forme bleue", "une forme à gauche"]) == [
        "a star", "une forme à gauche"]
