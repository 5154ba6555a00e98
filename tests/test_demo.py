"""The offline demo: real retrieval from the tiny model, and `multimodal demo --no-ui` end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from multimodal import demo
from multimodal.synthetic import read_attributes

pytestmark = [pytest.mark.clip, pytest.mark.slow]


def test_model_key_follows_the_recipe() -> None:
    assert demo.model_key() == demo.model_key(demo.RECIPE)
    assert demo.model_key(replace(demo.RECIPE, epochs=demo.RECIPE.epochs + 1)) != demo.model_key()
    assert demo.model_key(replace(demo.RECIPE, seed=1)) != demo.model_key()


def test_a_red_circle_finds_mostly_red_circles_in_the_ingested_gallery(demo_assets: demo.DemoAssets,
                                                                       tmp_path: Path) -> None:
    index = demo.open_demo_index(demo_assets, tmp_path / "index")
    report = demo.ingest_gallery(index, demo_assets)
    attrs = read_attributes(demo_assets.data.gallery)
    assert report.added == len(attrs) == 300 and not report.failed
    hits = index.search("a red circle", k=5)
    found = [attrs[Path(h.path)] for h in hits]
    assert sum(a.colour == "red" and a.shape == "circle" for a in found) >= 3, found
    # The gallery holds 10 red circles among 300 images: chance would put 0.17 of them in a top 5.


def test_demo_without_ui_prints_example_searches_and_reuses_the_cached_model(demo_assets: demo.DemoAssets,
                                                                             demo_home: Path, tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(demo_home), "PYTHONUNBUFFERED": "1"}
    env = {k: v for k, v in env.items() if not k.startswith("MULTIMODAL_")}
    result = subprocess.run([sys.executable, "-m", "multimodal", "demo", "--no-ui", "--index", str(tmp_path / "index"),
                             "-q"], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "reusing cached tiny model" in result.stderr
    for kind in ("text → image: 'a red circle'", "image → image", "image → text"):
        assert kind in result.stdout
    gallery = str(demo_assets.data.gallery)
    assert result.stdout.count(gallery) >= 15  # 3 text queries + 1 image query, 5 results each
    second = subprocess.run([sys.executable, "-m", "multimodal", "demo", "--no-ui", "--index", str(tmp_path / "index"),
                             "-q"], capture_output=True, text=True, env=env, timeout=600)
    assert second.returncode == 0 and "0 added, 300 unchanged" in second.stderr
