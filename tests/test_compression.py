"""Compressed storage: float16 / PCA codecs applied by the Store on write, query and read."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from multimodal.cli.main import main
from multimodal.compression import Codec, fit_pca
from multimodal.config import Settings
from multimodal.errors import ConfigError, StateConflictError
from multimodal.index import Index
from multimodal.store import Store
from tests.fixtures.fake_encoder import FakeEncoder, stub_model_loads
from tests.fixtures.images import write_image


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    for n in range(20):
        write_image(root / f"p{n:02d}.png", seed=n, size=(16, 16))
    (root / "p00.txt").write_text("a noisy square\n")
    return root


def open_index(tmp_path: Path, name: str, compress: str | None) -> Index:
    settings = Settings.resolve(index_dir=tmp_path / name, batch_size=8, compress=compress)
    return Index.open(settings, encoder=FakeEncoder())


def raw_vectors(index: Index, ids: list[str]) -> np.ndarray:
    """What Chroma itself holds, bypassing the Store's codec."""
    got = index.store.collection.get(ids=ids, include=["embeddings"])
    order = [got["ids"].index(i) for i in ids]
    return np.asarray(got["embeddings"], dtype=np.float32)[order]


def image_ids(index: Index) -> list[str]:
    return sorted(r.id for r in index.store.iter_records(where={"kind": "image"}))


def test_pca_codec_is_linear_and_reprojects_decoded_vectors_exactly() -> None:
    rng = np.random.default_rng(0)
    data = rng.standard_normal((200, 6)) @ rng.standard_normal((6, 32))  # rank 6 in 32-d
    codec = fit_pca(data, 6)
    x, y = data[:2]
    np.testing.assert_allclose(codec.encode(codec.decode(codec.encode(data))), codec.encode(data), atol=1e-3)
    np.testing.assert_allclose(codec.encode_query(2 * x - y), 2 * codec.encode(x) - codec.encode(y), atol=1e-3)
    # data inside the fitted subspace keeps its dot products: what cosine search ranks by
    np.testing.assert_allclose(codec.encode(data[:5]) @ codec.encode(data[:5]).T, data[:5] @ data[:5].T, rtol=1e-3)


def test_pca_index_stores_reduced_vectors_and_reopens_with_its_basis(tmp_path: Path, photos: Path) -> None:
    index = open_index(tmp_path, "idx", "pca8")
    index.ingest(photos)
    ids = image_ids(index)
    assert raw_vectors(index, ids).shape == (20, 8)
    reopened = Index.open(Settings.resolve(index_dir=tmp_path / "idx"), encoder=FakeEncoder())
    assert reopened.store.codec.name == "pca8"
    np.testing.assert_array_equal(reopened.store.codec.basis, index.store.codec.basis)
    assert reopened.store.get(ids[:1], embeddings=True)[0].embedding.shape == (32,)  # read back in model space


def test_stored_vector_queries_are_not_projected_twice(tmp_path: Path, photos: Path) -> None:
    index = open_index(tmp_path, "idx", "pca8")
    index.ingest(photos)
    ids = image_ids(index)
    raw = raw_vectors(index, ids)
    decoded = index.store.get([ids[3]], embeddings=True)[0].embedding
    np.testing.assert_allclose(index.store.codec.encode_query(decoded[None])[0], raw[3], atol=1e-5)

    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    expected = [ids[i] for i in np.argsort(-(unit @ unit[3])) if i != 3][:5]
    hits = index.searcher.more_like_this(ids[3], k=5)
    assert [h.id for h in hits] == expected
    assert hits[0].score == pytest.approx(float(unit[ids.index(hits[0].id)] @ unit[3]), abs=1e-4)


def test_float16_index_stores_rounded_vectors(tmp_path: Path, photos: Path) -> None:
    full = open_index(tmp_path, "full", None)
    half = open_index(tmp_path, "half", "float16")
    full.ingest(photos)
    half.ingest(photos)
    ids = image_ids(full)
    exact = raw_vectors(full, ids)
    rounded = exact.astype(np.float16).astype(np.float32)
    np.testing.assert_allclose(raw_vectors(half, ids), rounded, atol=1e-6)  # Chroma's own round trip: ~1 ulp
    assert np.abs(raw_vectors(half, ids) - exact).max() > 1e-5


def test_the_storage_form_is_fixed_at_the_first_ingest(tmp_path: Path, photos: Path) -> None:
    open_index(tmp_path, "idx", "pca8").ingest(photos)
    with pytest.raises(StateConflictError, match="pca8"):
        open_index(tmp_path, "idx", "float16").ingest(photos)
    write_image(photos / "new.png", seed=99, size=(16, 16))
    later = open_index(tmp_path, "idx", None)  # no flag: the index's own form
    report = later.ingest(photos)
    assert report.encoded == 1
    assert raw_vectors(later, [r.id for r in later.store.iter_records(where={"name": "new.png"})]).shape == (1, 8)


def test_pca_needs_at_least_as_many_images_as_dimensions(tmp_path: Path) -> None:
    few = tmp_path / "few"
    for n in range(3):
        write_image(few / f"{n}.png", seed=n)
    with pytest.raises(ConfigError, match="at least 8"):
        open_index(tmp_path, "idx", "pca8").ingest(few)


def test_racing_writers_end_up_with_one_codec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two writers that both saw no codec write theirs at once: both end up using the same one."""
    settings = Settings.resolve(index_dir=tmp_path / "idx")
    Store.open(settings).ensure_collection(FakeEncoder().spec, 32)
    writers = [Store.open(settings), Store.open(settings)]
    assert [w.codec.name for w in writers] == ["none", "none"]
    at_rename = threading.Barrier(2, timeout=60)
    for writer in writers:
        def held_at_rename(fn: Any, *args: Any, _real: Any = writer._call, **kwargs: Any) -> Any:
            if getattr(fn, "__name__", "") == "modify" and str(kwargs.get("name", "")).startswith("mmcodec-"):
                at_rename.wait()  # both bases are written: the two renames race for the one name
            return _real(fn, *args, **kwargs)

        monkeypatch.setattr(writer, "_call", held_at_rename)
    rng = np.random.default_rng(1)
    asked = [fit_pca(rng.standard_normal((50, 32)), 4) for _ in writers]
    with ThreadPoolExecutor(2) as pool:
        won = list(pool.map(lambda pair: pair[0].set_codec(pair[1]), zip(writers, asked, strict=True)))
    np.testing.assert_array_equal(won[0].basis, won[1].basis)
    assert sum(np.array_equal(won[0].basis, a.basis) for a in asked) == 1  # one writer's, whole
    np.testing.assert_array_equal(Store.open(settings).codec.basis, won[0].basis)


@pytest.mark.parametrize("name", ["zip", "pca", "pca1", "float8"])
def test_unknown_storage_forms_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="--compress"):
        Settings.resolve(compress=name)
    assert Codec().encode(np.ones((1, 3))).dtype == np.float32


def test_asking_another_form_of_an_existing_index_exits_1_as_a_conflict_not_2_as_a_usage_error(
        tmp_path: Path, photos: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    stub_model_loads(monkeypatch, FakeEncoder)
    where = ["--index", str(tmp_path / "idx"), "-q"]
    assert main(["ingest", str(photos), "--compress", "pca8", *where]) == 0
    assert main(["ingest", str(photos), "--compress", "float16", *where]) == 1
    assert "stores vectors as pca8, not float16" in capsys.readouterr().err
    assert main(["ingest", str(photos), "--compress", "pca1", *where]) == 2  # a bad value is still a usage error
