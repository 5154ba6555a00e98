"""`multimodal ui` / `python -m ui`: flags, and refusals that happen before anything is served."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from multimodal.cli.main import main
from multimodal.config import Settings
from multimodal.index import Index
from tests.fixtures.fake_encoder import FakeEncoder
from tests.fixtures.images import write_image


def test_python_m_ui_is_the_ui_subcommand() -> None:
    out = subprocess.run([sys.executable, "-m", "ui", "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "--insecure-public" in out.stdout and "--auth" in out.stdout


def test_a_public_host_without_auth_exits_with_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["ui", "--index", str(tmp_path / "index"), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "--auth USER:PASSWORD" in err and "--insecure-public" in err


def test_a_model_other_than_the_index_s_is_refused_at_start_up(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    index = Index.open(Settings.resolve(index_dir=tmp_path / "index"), encoder=FakeEncoder())
    index.ingest(write_image(tmp_path / "pics" / "a.jpg", seed=1).parent)
    assert main(["ui", "--index", str(tmp_path / "index"), "--model", "ViT-B-32", "--pretrained", "none"]) == 1
    assert "built with fake" in capsys.readouterr().err


def test_malformed_auth_and_upload_caps_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["ui", "--index", str(tmp_path / "i"), "--auth", "nopassword"]) == 2
    assert "USER:PASSWORD" in capsys.readouterr().err
    assert main(["ui", "--index", str(tmp_path / "i"), "--max-upload-mb", "0"]) == 2


def test_a_port_in_use_is_one_line_that_says_what_to_do_before_the_model_loads(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["ui", "--index", str(tmp_path / "index"), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot serve on 127.0.0.1:{port}" in err and "--port N" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
