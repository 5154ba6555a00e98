"""Bias probe: WEAT effect size and permutation p-value, image groups as targets, word sets as attributes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from multimodal.cli.main import main
from multimodal.errors import ConfigError, NotFoundError
from multimodal.index import Index
from multimodal.probe import Attribute, Target, parse_attribute, parse_targets, run_probe, weat
from multimodal.tagging import tag_images
from tests.fixtures.colour_words import COLOURS, ColourWordEncoder, colour_image, coloured_index
from tests.fixtures.fake_encoder import stub_model_loads

WARM, COLD = parse_attribute("warm:red,fire,sun"), parse_attribute("cold:blue,ice,snow")


@pytest.fixture
def coloured(tmp_path: Path) -> Index:
    def one_population_in_two_folders(root: Path) -> None:  # no real difference between them
        for i in range(12):
            colour_image(root / "same" / ("one" if i % 2 else "two") / f"{i}.png", COLOURS["green"], seed=500 + i)

    return coloured_index(tmp_path, per_colour=6, add=one_population_in_two_folders)


def folders(root: Path, *names: str) -> tuple[Target, Target]:
    return parse_targets(",".join(str(root / n) for n in names))


def test_weat_matches_a_hand_computed_case() -> None:
    x, y = np.array([[1.0, 0.0]] * 2), np.array([[0.0, 1.0]] * 2)
    effect, p_value, mean_x, mean_y = weat(x, y, np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]), permutations=20_000)
    assert effect == pytest.approx(np.sqrt(3))  # s = (1, 1, -1, -1): difference 2, sample std 2/sqrt(3)
    assert (mean_x, mean_y) == (1.0, -1.0)
    assert p_value == pytest.approx(2 / 6, abs=0.02)  # 2 of the 6 splits of 4 into 2+2 are as extreme


def test_a_real_association_is_large_and_significant_and_flips_with_the_targets(coloured: Index,
                                                                                 tmp_path: Path) -> None:
    root = tmp_path / "colours"
    result = run_probe(coloured.store, coloured.encoder, folders(root, "red", "blue"), (WARM, COLD),
                       permutations=2000)
    assert result.sizes == (6, 6) and result.effect_size > 0.8 and result.p_value < 0.05
    assert result.mean_association[0] > 0 > result.mean_association[1]
    assert "'red' sit nearer the 'warm' words" in result.sentence and "large" in result.sentence
    flipped = run_probe(coloured.store, coloured.encoder, folders(root, "blue", "red"), (WARM, COLD),
                        permutations=2000)
    assert flipped.effect_size == pytest.approx(-result.effect_size)
    assert "'red' sit nearer the 'warm' words" in flipped.sentence


def test_two_halves_of_one_population_show_no_reliable_difference(coloured: Index, tmp_path: Path) -> None:
    result = run_probe(coloured.store, coloured.encoder, folders(tmp_path / "colours", "same/one", "same/two"),
                       (WARM, COLD), permutations=2000)
    assert result.p_value >= 0.05 and result.sentence.startswith("No reliable difference")


def test_tags_can_be_targets(coloured: Index) -> None:
    tag_images(coloured.store, coloured.encoder, ["red", "blue", "green"])
    result = run_probe(coloured.store, coloured.encoder, parse_targets("tag:red,tag:blue"), (WARM, COLD),
                       permutations=500)
    assert result.targets == ("red", "blue") and result.effect_size > 0.8


def test_empty_or_overlapping_groups_are_refused(coloured: Index, tmp_path: Path) -> None:
    root = tmp_path / "colours"
    with pytest.raises(NotFoundError, match="multimodal tag"):
        run_probe(coloured.store, coloured.encoder, parse_targets("tag:cat,tag:dog"), (WARM, COLD))
    with pytest.raises(ConfigError, match="share 6 "):
        run_probe(coloured.store, coloured.encoder, folders(root, "same", "same/one"), (WARM, COLD))
    with pytest.raises(ConfigError, match=r"\{word\}"):
        run_probe(coloured.store, coloured.encoder, folders(root, "red", "blue"), (WARM, COLD), template="x")


def test_the_command_line_syntax(tmp_path: Path) -> None:
    (tmp_path / "cats").mkdir()
    cats, dogs = parse_targets(f"{tmp_path / 'cats'},tag:dog")
    assert cats == Target("folder", str(tmp_path / "cats")) and dogs == Target("tag", "dog")
    assert parse_targets("cat, dog")[1] == Target("tag", "dog")
    assert parse_attribute("pleasant: joy, love ,peace") == Attribute("pleasant", ["joy", "love", "peace"])
    assert parse_attribute("joy,love") == Attribute("joy", ["joy", "love"])
    for bad in ("cats", "a,b,c", "x,x"):
        with pytest.raises(ConfigError):
            parse_targets(bad)
    with pytest.raises(ConfigError):
        parse_attribute("empty:")


def test_command_reports_effect_p_value_and_a_sentence(coloured: Index, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    stub_model_loads(monkeypatch, ColourWordEncoder)
    root = tmp_path / "colours"
    args = ["probe", "--targets", f"{root / 'red'},{root / 'blue'}", "--attributes", "warm:red,fire", "cold:blue,ice",
            "--permutations", "500", "--index", str(coloured.settings.index_dir)]
    assert main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["effect_size"] > 0.8 and result["sizes"] == [6, 6] and result["permutations"] == 500
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "effect size: +" in text and "two-sided, 500 permutations" in text and result["sentence"] in text
