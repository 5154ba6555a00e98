"""The toolkit commands end to end: the real `multimodal` entry point as a subprocess, the real OpenCLIP path."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from multimodal.planted import COPY_KINDS, make_planted_set
from tests.fixtures.processes import MODEL, cli, ingest

pytestmark = [pytest.mark.clip, pytest.mark.slow]


def test_duplicates_tag_search_map_and_probe_on_a_compressed_index(tmp_path: Path) -> None:
    planted = make_planted_set(tmp_path / "set", 4, with_copies=2)
    index = tmp_path / "idx"
    report = ingest(planted.root, index, *MODEL, "--compress", "pca16")
    assert report["added"] == planted.files and not report["failed"]

    exact = json.loads(cli("duplicates", "--exact", "--json", index=index).stdout)
    assert sorted(map(sorted, exact)) == sorted(map(sorted, planted.exact))

    tagged = json.loads(cli("tag", "--labels", "circle,square,scene", "--json", index=index).stdout)
    assert tagged["images"] == planted.files and sum(tagged["counts"].values()) == planted.files
    label = next(iter(tagged["counts"]))
    hits = json.loads(cli("search", "a picture", "--tag", label, "-k", "50", "--json", index=index).stdout)
    assert len(hits) == tagged["counts"][label] and all(h["tags"] == [label] for h in hits)

    out = tmp_path / "map.html"
    cli("map", "--out", str(out), "--query", "a red circle", index=index)
    data = json.loads(re.search(r'type="application/json">(.*?)</script>', out.read_text(), re.S).group(1))
    assert len(data["x"]) == planted.files and data["queries"][0]["label"] == "a red circle"

    probe = cli("probe", "--targets", f"{planted.root / 'photos'},{planted.root / 'copies'}", "--attributes",
                "bright:light,sun", "dark:night,shadow", "--permutations", "200", "--json", index=index)
    result = json.loads(probe.stdout)
    assert result["sizes"] == [8, 2 * len(COPY_KINDS)] and 0 < result["p_value"] <= 1 and result["sentence"]


def test_readme_toolkit_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    section = (Path(__file__).resolve().parents[1] / "docs" / "toolkit.md").read_text()
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None and "find_duplicates" in code.group(1)
    planted = make_planted_set(tmp_path / "pics", 3, with_copies=2)
    for sub, source in (("a", "copies"), ("b", "photos")):  # the example's two folders of images
        (planted.root / sub).mkdir()
        for path in sorted((planted.root / source).iterdir())[:3]:
            shutil.copyfile(path, planted.root / sub / path.name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MULTIMODAL_MODEL", "mm-tiny")  # seeded random weights: no download here
    monkeypatch.setenv("MULTIMODAL_PRETRAINED", "none")
    namespace: dict = {}
    source = code.group(1).replace("~/pics", str(planted.root))
    exec(compile(source, "docs/toolkit.md", "exec"), namespace)  # our own docs, run as a user would
    assert (tmp_path / "map.html").stat().st_size > 1000
    assert namespace["result"].sizes == (3, 3) and namespace["result"].sentence
