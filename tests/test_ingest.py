"""Incremental, resumable ingest through the library API, with the fake encoder counting batches."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from multimodal.config import Settings
from multimodal.errors import ConfigError, ModelMismatchError, NotFoundError
from multimodal.index import Index
from multimodal.ingest import Shard
from multimodal.records import CAPTION, IMAGE, image_id
from tests.fixtures.fake_encoder import FakeEncoder
from tests.fixtures.images import write_image


def _ids(index: Index, kind: str) -> set[str]:
    return {r.id for r in index.store.iter_records(where={"kind": kind})}


def test_first_ingest_stores_images_captions_and_metadata(index: Index, photo_folder: Path) -> None:
    report = index.ingest(photo_folder)
    assert (report.added, report.encoded, report.captions, report.failed) == (6, 6, 1, [])
    assert len(_ids(index, IMAGE)) == 6 and len(_ids(index, CAPTION)) == 1
    red = index.store.get([image_id(photo_folder / "sub" / "red.png")])[0].metadata
    assert red["caption"] == "a red square" and red["format"] == "PNG"
    assert (red["width"], red["height"]) == (64, 48)
    assert red["folder"] == str(photo_folder / "sub") and str(photo_folder) in red["folders"]
    assert len(red["hash"]) == 64 and red["size"] == (photo_folder / "sub" / "red.png").stat().st_size


def test_encoding_is_batched_at_the_configured_size(index: Index, photo_folder: Path,
                                                    fake_encoder: FakeEncoder) -> None:
    index.ingest(photo_folder)  # batch_size=4 in the settings fixture
    assert fake_encoder.image_batches == [4, 2]


def test_rerun_encodes_nothing(index: Index, photo_folder: Path, fake_encoder: FakeEncoder) -> None:
    index.ingest(photo_folder)
    report = index.ingest(photo_folder)
    assert (report.unchanged, report.encoded, report.added, report.removed) == (6, 0, 0, 0)


def test_rename_reuses_the_stored_vector(index: Index, photo_folder: Path) -> None:
    index.ingest(photo_folder)
    before = index.store.get([image_id(photo_folder / "img0.jpg")], embeddings=True)[0].embedding
    (photo_folder / "img0.jpg").rename(photo_folder / "sub" / "moved.jpg")
    report = index.ingest(photo_folder)
    assert (report.renamed, report.encoded, report.removed, report.added) == (1, 0, 0, 0)
    after = index.store.get([image_id(photo_folder / "sub" / "moved.jpg")], embeddings=True)[0]
    assert np.allclose(after.embedding, before)
    assert after.metadata["path"] == str(photo_folder / "sub" / "moved.jpg")
    assert len(_ids(index, IMAGE)) == 6


def test_renamed_image_takes_its_new_sidecar_caption(index: Index, photo_folder: Path) -> None:
    index.ingest(photo_folder)
    (photo_folder / "sub" / "red.png").rename(photo_folder / "crimson.png")
    (photo_folder / "sub" / "red.txt").rename(photo_folder / "crimson.txt")
    report = index.ingest(photo_folder)
    assert report.encoded == 0 and report.renamed == 1
    captions = list(index.store.iter_records(where={"kind": CAPTION}))
    assert [c.metadata["path"] for c in captions] == [str(photo_folder / "crimson.png")]


def test_copy_reuses_the_stored_vector(index: Index, photo_folder: Path) -> None:
    index.ingest(photo_folder)
    shutil.copy(photo_folder / "img1.jpg", photo_folder / "copy of img1.jpg")
    report = index.ingest(photo_folder)
    assert (report.added, report.encoded, report.reused) == (1, 0, 1)
    assert len(_ids(index, IMAGE)) == 7


def test_deleted_file_and_its_captions_are_removed(index: Index, photo_folder: Path) -> None:
    index.ingest(photo_folder)
    (photo_folder / "sub" / "red.png").unlink()
    report = index.ingest(photo_folder)
    assert report.removed == 1 and report.encoded == 0
    assert len(_ids(index, IMAGE)) == 5 and _ids(index, CAPTION) == set()


def test_modified_file_is_re_encoded(index: Index, photo_folder: Path) -> None:
    index.ingest(photo_folder)
    write_image(photo_folder / "img2.jpg", seed=99)
    report = index.ingest(photo_folder)
    assert (report.updated, report.encoded, report.unchanged) == (1, 1, 5)


def test_touched_file_is_not_re_encoded(index: Index, photo_folder: Path) -> None:
    index.ingest(photo_folder)
    path = photo_folder / "img3.jpg"
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 100))
    report = index.ingest(photo_folder)
    assert report.encoded == 0 and report.updated == 1
    assert index.ingest(photo_folder).unchanged == 6  # new mtime was recorded


def test_edited_caption_is_re_encoded_without_the_image(index: Index, photo_folder: Path,
                                                        fake_encoder: FakeEncoder) -> None:
    index.ingest(photo_folder)
    (photo_folder / "sub" / "red.txt").write_text("a crimson square\na red tile\n")
    report = index.ingest(photo_folder)
    assert (report.encoded, report.captions, report.updated) == (0, 2, 1)
    docs = sorted(r.document for r in index.store.iter_records(where={"kind": CAPTION}))
    assert docs == ["a crimson square", "a red tile"]
    (photo_folder / "sub" / "red.txt").write_text("just one\n")
    index.ingest(photo_folder)
    assert [r.document for r in index.store.iter_records(where={"kind": CAPTION})] == ["just one"]


def test_corrupt_files_are_reported_and_the_batch_survives(index: Index, photo_folder: Path) -> None:
    (photo_folder / "empty.jpg").write_bytes(b"")
    (photo_folder / "notes.png").write_text("not a picture")
    good = write_image(photo_folder / "trunc.jpg", size=(300, 300))
    good.write_bytes(good.read_bytes()[:400])
    (photo_folder / "dangling.jpg").symlink_to(photo_folder / "nowhere.jpg")
    report = index.ingest(photo_folder)
    reasons = {Path(f.path).name: f.reason for f in report.failed}
    assert set(reasons) == {"empty.jpg", "notes.png", "trunc.jpg", "dangling.jpg"}
    assert "empty" in reasons["empty.jpg"] and "not an image" in reasons["notes.png"]
    assert report.added == 6 and len(_ids(index, IMAGE)) == 6


def test_caption_tables_csv_and_jsonl(tmp_path: Path, index: Index) -> None:
    root = tmp_path / "set"
    write_image(root / "a.jpg", seed=1)
    write_image(root / "b" / "c.jpg", seed=2)
    (root / "captions.csv").write_text('file,caption\na.jpg,"a cat, sleeping"\nb/c.jpg,a dog\n')
    (root / "captions.jsonl").write_text(json.dumps({"file": "a.jpg", "caption": "a tabby cat"}) + "\n")
    index.ingest(root)
    docs = sorted(r.document for r in index.store.iter_records(where={"kind": CAPTION}))
    assert docs == ["a cat, sleeping", "a dog", "a tabby cat"]


def test_a_different_model_is_refused(settings: Settings, photo_folder: Path) -> None:
    Index.open(settings, encoder=FakeEncoder()).ingest(photo_folder)
    other = Index.open(settings, encoder=FakeEncoder(name="other-model"))
    with pytest.raises(ModelMismatchError, match="fake"):
        other.ingest(photo_folder)


def test_missing_folder_is_a_clear_error(index: Index, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        index.ingest(tmp_path / "nope")


def test_shards_partition_a_folder(settings: Settings, photo_folder: Path) -> None:
    a = Index.open(settings, encoder=FakeEncoder())
    a.ingest(photo_folder, shard=Shard(0, 2))
    first = _ids(a, IMAGE)
    a.ingest(photo_folder, shard=Shard(1, 2))
    both = _ids(a, IMAGE)
    assert 0 < len(first) < 6 and len(both) == 6
    assert a.ingest(photo_folder, shard=Shard(0, 2)).removed == 0  # a shard never deletes the other's files


def test_ingesting_a_subfolder_does_not_touch_the_rest(index: Index, photo_folder: Path) -> None:
    index.ingest(photo_folder)
    report = index.ingest(photo_folder / "sub")
    assert (report.unchanged, report.removed, report.encoded) == (2, 0, 0)
    assert len(_ids(index, IMAGE)) == 6


def test_progress_callback_counts_up_to_the_total(index: Index, photo_folder: Path) -> None:
    seen: list[tuple[int, int]] = []
    index.ingest(photo_folder, progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, 6) and seen[-1] == (6, 6)


def test_shard_spec_is_validated() -> None:
    assert Shard.parse("1/3") == Shard(1, 3)
    for bad in ["3/3", "x", "1/0", "-1/2", "1/2/3", ""]:
        with pytest.raises(ConfigError, match=r"^--shard (must look like|I/N needs)"):  # a message, not a traceback
            Shard.parse(bad)


def test_counts_by_kind_page_through_the_index(index: Index, photo_folder: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import multimodal.store as store_module

    index.ingest(photo_folder)
    for page in (2, 3, 6, 7):  # pages that end mid-kind, exactly on the count, and past it
        monkeypatch.setattr(store_module, "_PAGE", page)
        info = index.store.info()
        assert (info.images, info.captions) == (6, 1)
        assert index.store.count() == 7
