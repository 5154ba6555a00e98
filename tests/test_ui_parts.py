"""The web UI's pieces without a server: query parsing, exposure rules, thumbnails, uploads, handlers."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from pathlib import Path

import gradio as gr
import pytest
from PIL import Image

from multimodal.config import Settings
from multimodal.errors import ConfigError, ImageLoadError, StoreUnavailableError
from multimodal.index import Index
from multimodal.query_terms import parse_terms
from multimodal.search import Term
from tests.fixtures.fake_encoder import FakeEncoder
from tests.fixtures.images import write_image
from tests.fixtures.ui_app import bomb_png, small_index
from ui.compose import FilterFields
from ui.handlers import Handlers
from ui.safety import Exposure, check_exposure, is_loopback, load_upload, parse_auth
from ui.service import Limits, Options, SearchService
from ui.thumbnails import GRID_SIZE, Source, Thumbnails
from ui.views import file_size

OPTS = (24, "images", 0.0, "", "Any", None, None)  # the sidebar's defaults, as the browser sends them


@pytest.fixture
def ui_index(tmp_path: Path) -> Index:
    return small_index(tmp_path / "pics", tmp_path / "index")


@pytest.fixture
def handlers(ui_index: Index, tmp_path: Path) -> Handlers:
    return Handlers(SearchService(ui_index, Thumbnails(tmp_path / "thumbs"), limits=Limits(max_upload_pixels=100_000)))


# -- composed queries and filters ---------------------------------------------------------------
def test_composed_query_lines_become_signed_weighted_terms() -> None:
    terms = parse_terms("red car\n-0.5 people\n\n# a comment\n+ image: ~/street.jpg\n−2 id: abc\n+.25 text: sky")
    assert terms == [Term("text", "red car", 1.0), Term("text", "people", -0.5),
                     Term("image", "~/street.jpg", 1.0), Term("id", "abc", -2.0), Term("text", "sky", 0.25)]


def test_a_sign_with_nothing_after_it_is_refused_with_its_line_number() -> None:
    with pytest.raises(ConfigError, match="line 2"):
        parse_terms("dogs\n-0.5")


def test_filter_fields_map_any_to_no_filter_and_an_end_date_to_the_end_of_that_day() -> None:
    filters = FilterFields(folder=" /photos ", format="Any", date_from="2024-06-01", date_to="2024-06-30").to_filters()
    assert filters.folder == "/photos" and filters.format is None
    assert filters.date_from == dt.datetime(2024, 6, 1, tzinfo=dt.UTC).timestamp()
    assert filters.date_to == dt.datetime(2024, 7, 1, tzinfo=dt.UTC).timestamp() - 1e-6
    with pytest.raises(ConfigError, match="2024-06-30"):
        FilterFields(date_from="June").to_filters()


# -- exposure ------------------------------------------------------------------------------------
def test_loopback_hosts_are_recognised() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.20")


def test_a_public_host_needs_a_password_or_an_explicit_insecure_flag() -> None:
    with pytest.raises(ConfigError, match="--auth"):
        check_exposure("0.0.0.0", None, False)
    assert check_exposure("0.0.0.0", ("me", "pw"), False).trusted
    open_to_all = check_exposure("0.0.0.0", None, True)
    assert open_to_all.public and not open_to_all.trusted
    assert check_exposure("127.0.0.1", None, False).trusted


def test_auth_is_user_colon_password_and_the_password_may_contain_colons() -> None:
    assert parse_auth("me:a:b") == ("me", "a:b")
    assert parse_auth(None) is None
    for bad in ("me", ":pw", "me:"):
        with pytest.raises(ConfigError, match="USER:PASSWORD"):
            parse_auth(bad)


# -- thumbnails ----------------------------------------------------------------------------------
def test_thumbnails_are_small_jpegs_made_once_and_shared_by_identical_content(tmp_path: Path) -> None:
    big = write_image(tmp_path / "big.jpg", seed=1, size=(1600, 1200))
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    thumbs = Thumbnails(tmp_path / "thumbs")
    first = thumbs.get(Source(str(big), digest))
    with Image.open(first) as im:
        assert im.format == "JPEG" and max(im.size) == GRID_SIZE and im.size[0] > im.size[1]
    stamp = first.stat().st_mtime_ns
    big.unlink()  # served from the cache now: the original is not read again
    assert thumbs.get(Source(str(big), digest)) == first and first.stat().st_mtime_ns == stamp
    assert thumbs.get(Source("/elsewhere/copy.jpg", digest)) == first  # same content hash, same thumbnail


def test_grid_tiles_carry_their_thumbnail_inside_an_svg_that_gradio_sends_inline(tmp_path: Path) -> None:
    import base64

    import gradio as gr

    thumbs = Thumbnails(tmp_path / "thumbs")
    image = write_image(tmp_path / "a.jpg", seed=3, size=(640, 480))
    thumb = thumbs.get(Source(str(image)))
    tile = thumbs.tiles([Source(str(image))])[0]
    assert tile == thumb.with_suffix(".svg") and 'width="320" height="240"' in tile.read_text()
    inside = tile.read_text().split('href="data:image/jpeg;base64,')[1].split('"')[0]
    assert base64.b64decode(inside) == thumb.read_bytes()  # the very thumbnail, not a re-encoding
    sent = gr.Gallery().postprocess([(str(tile), "a label")]).root[0].image
    assert sent.url.startswith("data:image/svg+xml,") and sent.path is None  # no file request for this tile
    outside = tmp_path / "elsewhere.jpg"
    outside.write_bytes(thumb.read_bytes())
    assert thumbs.tile(outside) == outside  # only the cache's own thumbnails are wrapped


def test_a_digest_that_is_not_a_hash_never_becomes_a_path(tmp_path: Path) -> None:
    image = write_image(tmp_path / "a.jpg", seed=2)
    thumbs = Thumbnails(tmp_path / "thumbs")
    made = thumbs.get(Source(str(image), "../../../../tmp/escape"))
    assert made.is_file() and made.resolve().is_relative_to((tmp_path / "thumbs").resolve())


def test_an_unreadable_or_vanished_image_gets_the_placeholder_tile(tmp_path: Path) -> None:
    thumbs = Thumbnails(tmp_path / "thumbs")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    assert thumbs.get(Source(str(broken))) == thumbs.placeholder()
    assert thumbs.get(Source(str(tmp_path / "gone.jpg"))) == thumbs.placeholder()


# -- uploads -------------------------------------------------------------------------------------
def test_an_upload_over_the_pixel_cap_is_refused_before_decoding(tmp_path: Path) -> None:
    image = write_image(tmp_path / "wide.png", color=(1, 2, 3), size=(1200, 1000))
    with pytest.raises(ImageLoadError, match="decompression bomb"):
        load_upload(image, max_pixels=1_000_000)
    with pytest.raises(ImageLoadError, match="decompression bomb"):
        load_upload(bomb_png(tmp_path / "bomb.png"), max_pixels=60_000_000)
    assert load_upload(image, max_pixels=2_000_000).size == (1200, 1000)


# -- handlers ------------------------------------------------------------------------------------
def test_text_search_fills_the_gallery_with_thumbnails_scores_and_names(handlers: Handlers) -> None:
    gallery, hits, status, *_ = handlers.search_text("a red square", *OPTS)
    assert len(hits) == 8 and len(gallery["value"]) == 8 and gallery["visible"]
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    thumb, label = gallery["value"][0]
    assert Path(thumb).is_file() and label.startswith(f"{hits[0].score:.3f} · {Path(hits[0].path).name}")
    assert "**8 results**" in status


def test_a_short_grid_carries_its_tiles_inline_and_a_long_one_goes_by_url(handlers: Handlers,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import ui.service

    gallery, *_ = handlers.search_text("a red square", *OPTS)
    assert {Path(thumb).suffix for thumb, _ in gallery["value"]} == {".svg"}
    monkeypatch.setattr(ui.service, "INLINE_MAX_TILES", 4)  # 8 results: more than that
    gallery, *_ = handlers.search_text("a red square", *OPTS)
    assert {Path(thumb).suffix for thumb, _ in gallery["value"]} == {".jpg"}


def test_k_threshold_and_filters_reach_the_searcher(handlers: Handlers) -> None:
    _, hits, *_ = handlers.search_text("square", 3, "images", 0.0, "", "PNG", None, None)
    assert len(hits) == 3 and all(h.path.endswith(".png") for h in hits)
    _, everything, *_ = handlers.search_text("square", *OPTS)
    cut = everything[2].score
    _, above, *_ = handlers.search_text("square", 24, "images", cut, "", "Any", None, None)
    assert [h.id for h in above] == [h.id for h in everything if h.score >= cut]


def test_caption_search_returns_caption_hits_with_their_text(handlers: Handlers) -> None:
    _, hits, *_ = handlers.search_text("a blue square", 24, "captions", 0.0, "", "Any", None, None)
    assert len(hits) == 4 and all(h.kind == "caption" and h.caption for h in hits)


def test_selecting_a_result_then_more_like_this_uses_it_and_leaves_it_out(handlers: Handlers) -> None:
    _, hits, *_ = handlers.search_text("photo", *OPTS)
    selected, preview, details, more, *_ = handlers.select(hits, gr.SelectData(None, {"index": 2, "value": None}))
    assert selected == hits[2] and Path(preview).is_file() and Path(hits[2].path).name in details
    assert more["interactive"] is True
    _, similar, status, *_ = handlers.more_like_this(selected, *OPTS)
    assert len(similar) == 7 and selected.id not in {h.id for h in similar}
    assert Path(selected.path).name in status


def test_likes_and_dislikes_become_a_recommendation(handlers: Handlers) -> None:
    _, hits, *_ = handlers.search_text("square", *OPTS)
    liked, disliked, _ = handlers.like(hits[0], [], [])
    liked, disliked, _ = handlers.dislike(hits[1], liked, disliked)
    liked, disliked, text = handlers.like(hits[1], liked, disliked)  # changing one's mind moves it
    assert [x["id"] for x in liked] == [hits[0].id, hits[1].id] and disliked == []
    assert Path(hits[1].path).name in text
    assert text.count("<img src='gradio_api/file=") == 2  # each liked image as its thumbnail
    assert handlers.feedback(liked, [{"id": "gone", "name": "gone.png"}]).count("<img") == 2  # no thumbnail, a name
    _, recs, *_ = handlers.recommend(liked, disliked, *OPTS)
    assert len(recs) == 6 and not {hits[0].id, hits[1].id} & {h.id for h in recs}


def test_likes_show_as_names_when_the_index_cannot_be_read(handlers: Handlers, monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    def unreachable(ids: object) -> object:
        raise StoreUnavailableError("cannot reach the Chroma server at http://db:8000")

    monkeypatch.setattr(handlers.service, "thumbnails_by_id", unreachable)
    with caplog.at_level(logging.WARNING):
        text = handlers.feedback([{"id": "a", "name": "a.jpg"}], [{"id": "b", "name": "b.jpg"}])
    assert "a.jpg" in text and "b.jpg" in text and "<img" not in text
    assert "cannot reach the Chroma server" in caplog.text and "Traceback" not in caplog.text


def test_image_search_by_upload_also_lists_the_nearest_captions(handlers: Handlers, ui_index: Index,
                                                                tmp_path: Path) -> None:
    query = write_image(tmp_path / "q.png", color=(221, 31, 29), size=(96, 64))
    encoded = list(ui_index.encoder.image_batches)
    _, hits, _, captions, *_ = handlers.search_image(str(query), None, *OPTS)
    assert Path(hits[0].path).name == "red.png"
    assert "Captions nearest" in captions and "a red square" in captions
    assert ui_index.encoder.image_batches == [*encoded, 1]  # the query image was encoded once for both searches


def _refused(call, *args: object, says: str) -> None:
    """A page event refused with one toast (a warning outside a request) and no change to any output."""
    with pytest.warns(UserWarning, match=says):
        out = call(*args)
    assert out == gr.skip(), "a refused event must leave every output as it was (no Error pills)"


def test_mistakes_reach_the_person_as_one_toast_and_change_nothing(handlers: Handlers, tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ui.handlers"):
        _refused(handlers.search_text, "   ", *OPTS, says="type something")
        big = str(write_image(tmp_path / "big.png", color=(0, 0, 0), size=(400, 300)))
        _refused(handlers.search_image, big, None, *OPTS, says="decompression bomb")
        _refused(handlers.more_like_this, None, *OPTS, says="Click a result first")
        _refused(handlers.search_text, "x", 24, "images", 0.0, "", "Any", "last week", None, says="2024-06-30")
        _refused(handlers.search_composed, "image: /nonexistent.jpg", None, 1.0, *OPTS, says="nonexistent")
        _refused(handlers.ingest, str(tmp_path / "no-such-folder"), says="does not exist")
    assert len(caplog.records) == 6 and not [r for r in caplog.records if r.exc_info]  # one line each, no traceback


def test_a_composed_query_that_only_pushes_away_is_refused(handlers: Handlers) -> None:
    _refused(handlers.search_composed, "-1 red square\n-0.5 photo", None, 1.0, *OPTS, says="positive weight")
    assert handlers.search_composed("-1 red square\n+0.5 photo", None, 1.0, *OPTS)[1]  # one positive term: results


def test_a_bug_is_logged_with_its_traceback_once_and_shown_as_a_generic_toast(
        handlers: Handlers, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(handlers.service, "search_text", lambda *_: 1 / 0)
    with caplog.at_level(logging.WARNING, logger="ui.handlers"):
        _refused(handlers.search_text, "x", *OPTS, says="ZeroDivisionError")
    assert [bool(r.exc_info) for r in caplog.records] == [True]


def test_an_empty_index_gets_a_friendly_message_with_the_command_to_run(tmp_path: Path, index: Index) -> None:
    empty = Handlers(SearchService(index, Thumbnails(tmp_path / "thumbs")))
    gallery, hits, status, *_ = empty.search_text("anything", *OPTS)
    assert hits == [] and gallery["visible"] is False
    assert "multimodal ingest" in status and "empty" in status
    summary, details, folders = empty.page_load()
    assert "No images" in summary and "multimodal ingest" in details and folders["choices"] == ["All folders"]
    gallery, hits, greeting, *_, more = empty.browse("All folders", None, None)  # the landing page
    assert hits == [] and "multimodal ingest" in greeting and not gallery["visible"] and not more["visible"]


def test_ingest_from_the_ui_reports_skipped_files_with_reasons(tmp_path: Path, index: Index) -> None:
    folder = tmp_path / "new"
    write_image(folder / "ok.jpg", seed=3)
    (folder / "broken.jpg").write_bytes(b"")
    added: list[Path] = []
    service = SearchService(index, Thumbnails(tmp_path / "thumbs"))
    service.on_new_root = added.append
    report, failed, summary, details = Handlers(service).ingest(str(folder))
    assert "1 added" in report and "1 file skipped" in report
    assert failed["visible"] and failed["value"] == [[str(folder / "broken.jpg"), "empty file"]]
    assert summary.startswith("1 image ·") and str(folder) in details and added == [folder]


def test_a_public_ui_without_a_password_turns_off_server_paths_and_ingest(ui_index: Index, tmp_path: Path) -> None:
    public = Handlers(SearchService(ui_index, Thumbnails(tmp_path / "thumbs"),
                                    exposure=Exposure("0.0.0.0", None, insecure_public=True)))
    photo = next((tmp_path / "pics" / "photos").iterdir())
    _refused(public.search_image, None, str(photo), *OPTS, says="turned off")
    _refused(public.search_composed, f"+ image: {photo}", None, 1.0, *OPTS, says="turned off")
    _refused(public.ingest, str(tmp_path), says="turned off")
    assert public.search_composed("red square\n-0.5 photo", None, 1.0, *OPTS)[1]  # text terms still work


def test_file_sizes_are_shown_in_the_unit_that_fits_and_small_files_are_not_zero() -> None:
    assert [file_size(n) for n in (0, 512, 1023)] == ["0 B", "512 B", "1023 B"]
    assert [file_size(n) for n in (1024, 1229, 3_565_158, 5 * 1024**3)] == ["1.0 KB", "1.2 KB", "3.4 MB", "5.0 GB"]


def test_options_treat_a_zero_threshold_as_none() -> None:
    from ui.handlers import options

    assert options(5, "both", 0.0, "", "Any", None, None) == Options(k=5, target="both", threshold=None)
    assert options(5, "images", 0.3, "", "JPEG", None, None).threshold == 0.3


# -- example queries --------------------------------------------------------------------------------
def test_example_queries_come_from_the_index_captions_or_its_tags(ui_index: Index, tmp_path: Path) -> None:
    from ui.examples import GENERIC, example_queries, placeholder

    captions = example_queries(ui_index.store)
    assert sorted(captions) == [f"a {c} square" for c in ("blue", "green", "red", "yellow")]
    assert placeholder(captions) == f"e.g. {captions[0]}" and "dog" not in placeholder(captions)
    empty = Index.open(Settings.resolve(index_dir=tmp_path / "empty"), encoder=FakeEncoder())
    assert example_queries(empty.store) == [] and placeholder([]) == GENERIC
    ui_index.store.update_metadata({"mm_tag_labels": "circle,square,triangle,star,heart,moon,cross,ring"})
    assert example_queries(ui_index.store, 4) == ["circle", "triangle", "heart", "cross"]  # spread over the tags


def test_long_captions_are_not_offered_as_examples(tmp_path: Path) -> None:
    from ui.examples import MAX_CHARS, example_queries

    root = tmp_path / "pics"
    write_image(root / "a.png", color=(10, 20, 30))
    (root / "a.txt").write_text("a very long caption that goes on and on about everything in the picture\n")
    write_image(root / "b.png", color=(200, 20, 30))
    (root / "b.txt").write_text("  a   short   one \n")
    idx = Index.open(Settings.resolve(index_dir=tmp_path / "index"), encoder=FakeEncoder())
    idx.ingest(root)
    examples = example_queries(idx.store)
    assert examples == ["a short one"] and all(len(e) <= MAX_CHARS for e in examples)


def test_the_app_offers_the_examples_it_is_given_instead_of_the_index_captions(ui_index: Index) -> None:
    from ui.app import build_app

    def chips(app: gr.Blocks) -> list[list[str]]:
        [dataset] = [c for c in app.config["components"] if c.get("props", {}).get("elem_id") == "mm-examples"]
        return dataset["props"]["samples"]

    assert sorted(chips(build_app(ui_index))) == [[f"a {c} square"] for c in ("blue", "green", "red", "yellow")]
    # The demo passes the queries its tests check at rank 1 (multimodal.demo.EXAMPLE_QUERIES).
    assert chips(build_app(ui_index, examples=["a red circle", "un cercle rouge"])) == [["a red circle"],
                                                                                        ["un cercle rouge"]]
