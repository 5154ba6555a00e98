"""Shared fixtures. Each test gets its own index folder; nothing touches the user's data dir."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from multimodal.config import Settings
from multimodal.index import Index
from tests.fixtures.fake_encoder import FakeEncoder
from tests.fixtures.images import write_image

pytest_plugins = [  # real server, CLI ingest runs, the tiny model trained once per run, a live UI
    "tests.fixtures.chroma_server", "tests.fixtures.ingest_runs", "tests.fixtures.tiny_model",
    "tests.fixtures.ray_cluster", "tests.fixtures.ui_app",
]

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["ANONYMIZED_TELEMETRY"] = "False"
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the real per-user index, or inherits MULTIMODAL_* from the shell."""
    for key in list(os.environ):
        if key.startswith("MULTIMODAL_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.resolve(index_dir=tmp_path / "index", batch_size=4)


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture
def index(settings: Settings, fake_encoder: FakeEncoder) -> Index:
    return Index.open(settings, encoder=fake_encoder)


@pytest.fixture
def photo_folder(tmp_path: Path) -> Path:
    """Six distinct noise images, one caption sidecar, in a folder with a subfolder."""
    root = tmp_path / "photos"
    for n in range(4):
        write_image(root / f"img{n}.jpg", seed=n)
    write_image(root / "sub" / "red.png", color=(220, 20, 20))
    write_image(root / "sub" / "blue.png", color=(20, 20, 220))
    (root / "sub" / "red.txt").write_text("a red square\n")
    return root
