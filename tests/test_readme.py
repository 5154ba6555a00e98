"""The README's promises: two commands first, CI runs the same test command, the Python example works."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fixtures.images import write_image

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _first_block() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", README, re.S)
    assert block is not None and README.index(block.group(0)) < 200, "the README must open with the commands"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_exactly_install_and_test_commands() -> None:
    install, test = _first_block()
    assert "pip install" in install and install.rstrip().endswith("multimodal demo")
    assert "pytest" in test


def test_ci_runs_the_readme_test_command() -> None:
    _, test = _first_block()
    ci = (ROOT / ".ci" / "run").read_text()
    assert test.strip() in ci


def test_the_fast_subset_is_one_command_leaving_out_every_marker_but_clip() -> None:
    """Development's fast subset names every registered marker but `clip` (the real OpenCLIP path, quick unless
    also `slow`): a new marker for something expensive must join the documented command."""
    import tomllib

    development = README[README.index("## Development"):]
    commands = re.findall(r'pytest -q -m "([^"]+)"', development)
    markers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]
    registered = {m.split(":", 1)[0].strip() for m in markers}
    assert len(commands) == 1 and re.fullmatch(r"not \w+( and not \w+)*", commands[0]), commands
    assert set(re.findall(r"not (\w+)", commands[0])) == registered - {"clip"}


@pytest.mark.clip
def test_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, photo_folder: Path) -> None:
    code = re.search(r"### From Python\n\n```python\n(.*?)```", README, re.S)
    assert code is not None
    write_image(tmp_path / "query.jpg", seed=7)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MULTIMODAL_MODEL", "mm-vit-micro")  # no weights to download here: seeded random tiny ViT
    monkeypatch.setenv("MULTIMODAL_PRETRAINED", "none")
    source = code.group(1).replace("~/Pictures", str(photo_folder))
    namespace: dict = {}
    exec(compile(source, "README.md", "exec"), namespace)  # our own README, run as a user would
    assert namespace["report"].added == 6
    assert len(namespace["similar"]) == 5 and len(namespace["more"]) == 5
    assert namespace["similar"][0].id not in {h.id for h in namespace["more"]}
