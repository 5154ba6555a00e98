"""`multimodal info` reads an embedded index's SQLite file without chromadb, and says exactly what Chroma says."""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

from multimodal.config import Settings
from multimodal.index import Index
from multimodal.index_summary import read_summary
from multimodal.records import IMAGE
from multimodal.store import Store


def chroma_says(settings: Settings) -> tuple:
    store = Store.open(settings)
    return store.info(), store.precisions()


def summary_says(settings: Settings) -> tuple:
    summary = read_summary(settings)
    assert summary is not None
    return summary.info, summary.precisions


def test_the_summary_equals_chromas_answer_through_adds_updates_and_deletes(index: Index, photo_folder: Path) -> None:
    index.ingest(photo_folder)
    settings = index.settings
    first = summary_says(settings)
    assert first == chroma_says(settings)
    assert (first[0].images, first[0].captions, first[0].model is not None) == (6, 1, True)

    ids = index.store.ids(IMAGE)
    index.store.update_records(ids[:2], [{"precision": "bf16"}, {"precision": None}])  # a mix, one unrecorded
    (photo_folder / "img3.jpg").unlink()
    index.ingest(photo_folder)  # a deleted image leaves the index
    after = summary_says(settings)
    assert after == chroma_says(settings)
    assert after[0].images == 5 and sum(after[1].values()) == 5 and len(after[1]) >= 2


def test_whatever_only_chroma_can_answer_is_left_to_it(index: Index, photo_folder: Path, tmp_path: Path) -> None:
    settings = index.settings
    assert read_summary(settings) is None  # no collection yet
    index.ingest(photo_folder)
    assert read_summary(replace(settings, chroma_url="http://localhost:8000")) is None  # a server index
    assert read_summary(replace(settings, collection="another")) is None
    assert read_summary(replace(settings, index_dir=tmp_path / "nowhere")) is None

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "chroma.sqlite3").write_bytes(b"not a database at all" * 100)
    assert read_summary(replace(settings, index_dir=broken)) is None

    behind = tmp_path / "behind"  # a write in Chroma's log that the metadata tables do not hold yet
    shutil.copytree(settings.index_dir, behind)
    with sqlite3.connect(behind / "chroma.sqlite3") as db:
        topic = db.execute("SELECT topic FROM embeddings_queue LIMIT 1").fetchone()[0]
        db.execute("INSERT INTO embeddings_queue (seq_id, operation, topic, id) VALUES "
                   "((SELECT max(seq_id) FROM max_seq_id) + 1, 0, ?, 'pending')", (topic,))
    assert read_summary(replace(settings, index_dir=behind)) is None
    assert read_summary(settings) is not None
