"""Acting on duplicates: one file kept per group, the others moved (never deleted), and every move undone."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from multimodal.cli.main import main
from multimodal.config import Settings
from multimodal.duplicate_moves import FileDetails, apply_moves, plan_moves, read_manifest, undo_moves
from multimodal.duplicates import DuplicateGroup
from multimodal.errors import ConfigError
from multimodal.index import Index
from multimodal.planted import make_planted_set
from tests.fixtures.fake_encoder import FakeEncoder


def _files(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def trio(tmp_path: Path) -> tuple[list[DuplicateGroup], dict[str, FileDetails]]:
    paths = [tmp_path / "a" / "x.jpg", tmp_path / "b" / "x.jpg", tmp_path / "b" / "small.jpg"]
    for n, p in enumerate(paths):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(bytes([n]) * (10 + n))
    details = {str(paths[0]): FileDetails(str(paths[0]), 10, 400, 300, date=300.0, mtime=300.0),
               str(paths[1]): FileDetails(str(paths[1]), 11, 800, 600, date=100.0, mtime=100.0),
               str(paths[2]): FileDetails(str(paths[2]), 12, 200, 150, date=200.0, mtime=200.0)}
    return [DuplicateGroup([str(p) for p in paths], ["1", "2", "3"], 0.99)], details


def test_keep_picks_largest_newest_or_oldest_and_moves_keep_relative_paths(trio, tmp_path: Path) -> None:
    groups, details = trio
    dest = tmp_path / "moved"
    kept = {keep: plan_moves(groups, details, keep, dest)[0].kept for keep in ("largest", "newest", "oldest")}
    assert {k: Path(v).relative_to(tmp_path).as_posix() for k, v in kept.items()} == {
        "largest": "b/x.jpg", "newest": "a/x.jpg", "oldest": "b/x.jpg"}
    moves = plan_moves(groups, details, "newest", dest)
    assert sorted(Path(m.target).relative_to(dest).as_posix() for m in moves) == ["b/small.jpg", "b/x.jpg"]
    with pytest.raises(ConfigError):
        plan_moves(groups, details, "biggest", dest)


def test_groups_sharing_a_file_are_one_set(trio, tmp_path: Path) -> None:
    groups, details = trio
    exact = DuplicateGroup([groups[0].paths[0], str(tmp_path / "c" / "x.jpg")], ["1", "4"], 1.0)
    moves = plan_moves([*groups, exact], details, "largest", tmp_path / "moved")
    assert len(moves) == 3 and len({m.kept for m in moves}) == 1


def test_move_then_undo_restores_every_file(trio, tmp_path: Path) -> None:
    groups, details = trio
    before = _files(tmp_path)
    moves = plan_moves(groups, details, "largest", tmp_path / "moved")
    manifest = tmp_path / "moved" / "manifest.json"
    apply_moves(moves, manifest)
    assert all(not Path(m.source).exists() and Path(m.target).is_file() for m in moves)
    assert read_manifest(manifest) == moves
    report = undo_moves(manifest)
    assert sorted(report.restored) == sorted(m.source for m in moves) and not report.missing
    after = _files(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith("moved/")} == before


def test_the_manifest_is_written_before_anything_moves(trio, tmp_path: Path, monkeypatch) -> None:
    groups, details = trio
    moves = plan_moves(groups, details, "largest", tmp_path / "moved")
    manifest = tmp_path / "moved" / "manifest.json"
    real_move, calls = shutil.move, []

    def failing(src: str, dst: str) -> str:
        calls.append(src)
        assert manifest.is_file() and len(read_manifest(manifest)) == len(moves)  # already on disk
        if len(calls) == 2:
            raise OSError("disk full")
        return real_move(src, dst)

    monkeypatch.setattr(shutil, "move", failing)
    with pytest.raises(OSError):
        apply_moves(moves, manifest)
    monkeypatch.setattr(shutil, "move", real_move)
    report = undo_moves(manifest)  # a run that stopped half way is undone all the same
    assert report.restored == [moves[0].source] and report.already == [moves[1].source]


def test_moves_refuse_to_overwrite_and_undo_refuses_an_occupied_original(trio, tmp_path: Path) -> None:
    groups, details = trio
    moves = plan_moves(groups, details, "largest", tmp_path / "moved")
    Path(moves[0].target).parent.mkdir(parents=True)
    Path(moves[0].target).write_bytes(b"someone else's file")
    before = _files(tmp_path)
    with pytest.raises(ConfigError, match="exist already"):
        apply_moves(moves, tmp_path / "m.json")
    assert _files(tmp_path) == before and not (tmp_path / "m.json").exists()  # nothing moved, no manifest
    Path(moves[0].target).unlink()
    apply_moves(moves, tmp_path / "m.json")
    Path(moves[1].source).write_bytes(b"a new file at the old path")
    with pytest.raises(ConfigError, match="occupied"):
        undo_moves(tmp_path / "m.json")
    assert all(Path(m.target).is_file() for m in moves)  # nothing moved back


def test_command_moves_all_but_one_of_each_group_and_undo_puts_them_back(tmp_path: Path, capsys) -> None:
    planted = make_planted_set(tmp_path / "set", 4, with_copies=2)
    index = Index.open(Settings.resolve(index_dir=tmp_path / "idx"), encoder=FakeEncoder())
    index.ingest(planted.root)
    before = _files(planted.root)
    where = ["--index", str(index.settings.index_dir)]
    assert main(["duplicates", *where]) == 0 and _files(planted.root) == before  # report-only by default
    capsys.readouterr()
    dest = tmp_path / "moved"
    assert main(["duplicates", "--move-to", str(dest), "--keep", "largest", "--json", *where]) == 0
    out = json.loads(capsys.readouterr().out)
    left = _files(planted.root)
    for group in planted.copies:  # one file of each planted group stays, the largest picture
        stayed = [p for p in group if str(Path(p).relative_to(planted.root)) in left]
        assert len(stayed) == 1 and "resized" not in stayed[0] and "cropped" not in stayed[0]
    assert len(out["moved"]) == sum(len(g) - 1 for g in planted.copies)
    assert all(Path(m["target"]).is_relative_to(dest) for m in out["moved"])
    assert main(["duplicates", "--undo", out["manifest"], *where]) == 0
    assert _files(planted.root) == before
    assert "put back" in capsys.readouterr().out
