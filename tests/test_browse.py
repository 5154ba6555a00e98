"""Browsing the library (newest first, paged, folder and date filters) and sorting results by date."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from multimodal.browse import list_images, page
from multimodal.index import Index
from multimodal.search import Filters
from tests.fixtures.ui_app import DAY, FIRST_DAY, dated_index
from ui.handlers import ALL_FOLDERS, Handlers
from ui.service import Options, SearchService
from ui.thumbnails import Thumbnails


@pytest.fixture
def dated(tmp_path: Path) -> tuple[Index, list[str]]:
    return dated_index(tmp_path / "pics", tmp_path / "index")


def _names(hits: list) -> list[str]:  # type: ignore[type-arg]
    return [Path(h.path).name for h in hits]


def test_the_library_lists_images_newest_first_in_pages_without_scores(dated: tuple[Index, list[str]]) -> None:
    index, newest = dated
    listing = list_images(index.store)
    assert len(listing) == 8 and [Path(e.path).name for e in listing.entries] == newest
    pages = [page(index.store, listing, offset, 3) for offset in (0, 3, 6)]
    assert [len(p) for p in pages] == [3, 3, 2] and _names([h for p in pages for h in p]) == newest
    assert all(math.isnan(h.score) and h.kind == "image" for p in pages for h in p)
    assert {h.caption for h in pages[0] + pages[1] + pages[2] if h.caption} == {
        f"a {c} square" for c in ("red", "green", "blue", "yellow")}
    assert len(listing.folders) == 2 and all(f.endswith(("colours", "photos")) for f in listing.folders)


def test_the_library_follows_folder_and_date_filters(dated: tuple[Index, list[str]], tmp_path: Path) -> None:
    index, newest = dated
    colours = list_images(index.store, Filters(folder=str(tmp_path / "pics" / "colours")))
    assert [Path(e.path).name for e in colours.entries] == [n for n in newest if n.endswith(".png")]
    window = list_images(index.store, Filters(date_from=FIRST_DAY + 2 * DAY, date_to=FIRST_DAY + 4 * DAY))
    assert [Path(e.path).name for e in window.entries] == newest[3:6]  # days 4, 3 and 2
    assert len(list_images(index.store, Filters(folder=str(tmp_path / "nowhere")))) == 0


def test_the_landing_page_shows_a_page_of_the_library_and_more_on_request(dated: tuple[Index, list[str]],
                                                                          tmp_path: Path) -> None:
    index, newest = dated
    service = SearchService(index, Thumbnails(tmp_path / "thumbs"))
    service.page_size = 5
    handlers = Handlers(service)
    gallery, hits, status, _, *_, sort, more = handlers.browse(ALL_FOLDERS, None, None)
    assert _names(hits) == newest[:5] and len(gallery["value"]) == 5 and gallery["visible"]
    assert "**Library** · 8 images, newest first · showing 5" in status
    assert more["visible"] and more["value"] == "Show more (3 left)" and sort["visible"] is False
    label = gallery["value"][0][1]
    assert label.startswith("2023-11-21 · " + newest[0]) and "nan" not in label  # its date, no score
    gallery, hits, status, *_, more = handlers.browse_more(hits, ALL_FOLDERS, None, None)
    assert _names(hits) == newest and not more["visible"] and "showing" not in status

    _, hits, status, *_ = handlers.browse(str(tmp_path / "pics" / "photos"), "2023-11-19", None)
    assert _names(hits) == [n for n in newest if n.endswith(".jpg") and n != "photo0.jpg"]
    assert "under" in status and "from 2023-11-19" in status
    assert "No images" in handlers.browse("/no/such/folder", None, None)[2]


def test_results_sort_by_date_and_back_to_relevance(dated: tuple[Index, list[str]], tmp_path: Path) -> None:
    index, newest = dated
    handlers = Handlers(SearchService(index, Thumbnails(tmp_path / "thumbs")))
    opts = (24, "images", 0.0, ALL_FOLDERS, "Any", None, None)
    _, ranked, *_, sort, more = handlers.search_text("a red square", *opts, "relevance")
    assert sort["visible"] and not more["visible"]
    assert [h.score for h in ranked] == sorted((h.score for h in ranked), reverse=True)
    assert _names(ranked) != newest  # otherwise the test below could not tell the orders apart
    _, by_date, *_ = handlers.resort(ranked, "date")
    assert _names(by_date) == newest
    _, again, *_ = handlers.resort(by_date, "relevance")
    assert again == ranked
    _, searched, *_ = handlers.search_text("a red square", *opts, "date")  # a new search keeps the switch
    assert _names(searched) == newest
    assert SearchService(index).search_text("a red square", Options(order="date")) == searched
