"""How results and index facts look on the page (Markdown and gallery items) and through the API (dicts)."""

from __future__ import annotations

import datetime as dt
import html
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from multimodal.ingest import IngestReport
from multimodal.match import WEAK
from multimodal.records import CAPTION
from multimodal.search import Filters
from multimodal.store import Hit, IndexInfo

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+!|~])")
INGEST_HINT = "multimodal ingest ~/Pictures"


def md(text: object) -> str:
    """Escape user data (file names, captions) so Markdown shows it as typed."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def unscored(hit: Hit) -> bool:
    """A browsed image: it answers no query, so it has no score to show."""
    return math.isnan(hit.score)


def label(hit: Hit) -> str:
    """The label on a thumbnail: score (or, browsing, the date) and file name, then the (first) caption on its
    own line."""
    name = Path(hit.path).name
    if unscored(hit):
        date = hit.metadata.get("date")
        text = f"{_day(float(date))} · {name}" if date else name
    else:
        text = f"{hit.score:.3f} · {name}"
    return f"{text}\n{hit.caption}" if hit.caption else text


def gallery(hits: Sequence[Hit], thumbnails: Sequence[Path]) -> list[tuple[str, str]]:
    return [(str(thumb), label(hit)) for hit, thumb in zip(hits, thumbnails, strict=True)]


def status(what: str, hits: Sequence[Hit], seconds: float) -> str:
    if not hits:
        return f"No results for {what}. Try other words, a lower minimum score, or fewer filters."
    noun = "result" if len(hits) == 1 else "results"
    line = f"**{len(hits)} {noun}** for {what} · {seconds * 1000:.0f} ms · click one for details"
    if hits[0].match == WEAK:
        return f"### No strong match for {what}; nearest results:\n{line}"
    return line


def library_status(shown: int, total: int, filters: Filters) -> str:
    """What the library view shows: how many images, under which filters, newest first."""
    where = []
    if filters.folder:
        where.append(f"under {_code(filters.folder)}")
    if filters.date_from is not None:
        where.append(f"from {_day(filters.date_from)}")
    if filters.date_to is not None:
        where.append(f"to {_day(filters.date_to)}")
    scope = " ".join(where)
    if not total:
        return f"No images {scope or 'in the library'}. Try another folder or other dates."
    noun = "image" if total == 1 else "images"
    head = f"**Library**{' ' + scope if scope else ''} · {total:,} {noun}, newest first"
    if shown < total:
        head += f" · showing {shown:,}"
    return head + " · search by words or by image on the left; click an image for details"


def reference(items: Sequence[tuple[str, Path]], more: int = 0) -> str:
    """What the results are relative to: "Like green.png" with its thumbnail (or several, for likes)."""
    if not items:
        return ""
    images = "".join(f"<img src='{file_url(thumb)}' alt='{html.escape(name, quote=True)}'>" for name, thumb in items)
    names = ", ".join(f"<b>{html.escape(name)}</b>" for name, _ in items) + (f" and {more} more" if more else "")
    return f"<div class='mm-ref'>{images}<span>Like {names}</span></div>\n\n"


def file_url(path: Path | str) -> str:
    """A URL for a file the server may serve (thumbnails, indexed images), relative to the page."""
    return "gradio_api/file=" + quote(str(path))


def empty_index(location: str) -> str:
    return (f"### This index is empty\nAdd a folder in the **Index** tab, or run `{INGEST_HINT}` "
            f"(index at `{location}`), then search here.")


def hit_details(hit: Hit) -> str:
    meta = hit.metadata
    score = "" if unscored(hit) else f" · similarity **{hit.score:.3f}**"
    lines = [f"**{md(Path(hit.path).name)}**{score}", "", f"`{hit.path}`", "",
             f"<a href='{file_url(hit.path)}' target='_blank' rel='noopener' class='mm-open'>Open the original ↗</a>"]
    facts = []
    if meta.get("width") and meta.get("height"):
        facts.append(f"{meta['width']}×{meta['height']}")
    if meta.get("format"):
        facts.append(str(meta["format"]))
    if meta.get("size"):
        facts.append(file_size(int(meta["size"])))
    if meta.get("date"):
        facts.append(_day(float(meta["date"])))
    if facts:
        lines += ["", " · ".join(facts)]
    if hit.caption:
        lines += ["", f"> {md(hit.caption)}"]
    if hit.kind == CAPTION:
        lines += ["", "_matched through this caption_"]
    return "\n".join(lines)


def captions(hits: Sequence[Hit]) -> str:
    if not hits:
        return "_No captions in the index to compare with._"
    return "\n".join(f"1. {md(h.caption or '')} <small>({h.score:.3f})</small>" for h in hits)


def feedback(liked: Sequence[dict[str, str]], disliked: Sequence[dict[str, str]],
             thumbs: Mapping[str, Path] | None = None) -> str:
    """The likes panel: each liked and disliked image as its thumbnail (when `thumbs` has it, by id) and name."""
    if not liked and not disliked:
        return "**Recommendations** — click results and mark them *Like* or *Dislike*, then ask for more like those."
    parts = []
    if liked:
        parts.append("**Liked:** " + " ".join(_marked(x, (thumbs or {}).get(x["id"])) for x in liked))
    if disliked:
        parts.append("**Disliked:** " + " ".join(_marked(x, (thumbs or {}).get(x["id"])) for x in disliked))
    return "\n\n".join(parts)


def _marked(item: dict[str, str], thumb: Path | None) -> str:
    name = html.escape(item["name"], quote=True)
    image = f"<img src='{file_url(thumb)}' alt='{name}'>" if thumb else ""
    return f"<span class='mm-mark' title='{name}'>{image}{name}</span>"


def index_summary(info: IndexInfo) -> str:
    if not info.images:
        return "No images indexed yet"
    model = info.model.label() if info.model else "?"
    return f"{_count(info.images, 'image')} · {_count(info.captions, 'caption')} · {md(model)}{model_badge(info)}"


def model_badge(info: IndexInfo) -> str:
    """A visible badge when the model's results need a warning (random weights, the demo's toy model)."""
    if not info.note:
        return ""
    kind = "random" if info.random_weights else "note"
    return f"<br><span class='mm-badge mm-badge-{kind}'>{html.escape(info.note)}</span>"


def index_details(info: IndexInfo, roots: Sequence[Path]) -> str:
    """A definition list (HTML inside Markdown; every value escaped)."""
    model = info.model.label() if info.model else "chosen at the first ingest"
    last = _day(info.last_ingest, seconds=True) if info.last_ingest else "never"
    if info.note:
        model += f" — {info.note}"
    rows = [("Images", f"{info.images:,}"), ("Captions", f"{info.captions:,}"), ("Model", html.escape(model)),
            ("Dimensions", str(info.dim or "–")), ("Location", _code(info.location)),
            ("Collection", _code(info.collection)), ("Last ingest", last),
            ("Folders", "<br>".join(_code(r) for r in roots) or "–")]
    table = "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"
    return table if info.images else empty_index(info.location) + "\n\n" + table


def _code(text: object) -> str:
    return f"<code>{html.escape(str(text))}</code>"


def report(rep: IngestReport) -> str:
    counts = [("added", rep.added), ("updated", rep.updated), ("unchanged", rep.unchanged),
              ("removed", rep.removed), ("renamed", rep.renamed), ("captions", rep.captions)]
    done = ", ".join(f"{n} {word}" for word, n in counts if n)
    head = f"**Done** in {rep.seconds:.1f} s: {done or 'nothing to do'}."
    if rep.failed:
        noun = "file" if len(rep.failed) == 1 else "files"
        head += f" **{len(rep.failed)} {noun} skipped** (listed below)."
    return head


def failures(rep: IngestReport) -> list[list[str]]:
    return [[f.path, f.reason] for f in rep.failed]


def hit_dict(hit: Hit) -> dict[str, Any]:
    """A result as the API returns it. The image's path is under "file": gradio_client would take a "path"
    key for a file to download."""
    meta = hit.metadata
    data: dict[str, Any] = {"id": hit.id, "image_id": hit.image_id, "file": hit.path, "score": round(hit.score, 6),
                            "match": hit.match, "kind": hit.kind, "caption": hit.caption}
    data.update({k: meta[k] for k in ("width", "height", "format", "date") if k in meta})
    return data


def info_dict(info: IndexInfo) -> dict[str, Any]:
    """The index's facts as the APIs return them."""
    return {"images": info.images, "captions": info.captions, "location": info.location,
            "collection": info.collection, "model": info.model.label() if info.model else None,
            "dim": info.dim, "last_ingest": info.last_ingest, "note": info.note,
            "random_weights": info.random_weights}


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _day(ts: float, *, seconds: bool = False) -> str:
    when = dt.datetime.fromtimestamp(ts)
    return when.isoformat(sep=" ", timespec="seconds") if seconds else when.date().isoformat()


def file_size(n: int) -> str:
    """A file's size as people read it: "512 B", "1.2 KB", "3.4 MB" (units of 1024; never "0 KB" for a small file)."""
    if n < 1024:
        return f"{n} B"
    size = float(n)
    for unit in ("KB", "MB", "GB", "TB"):
        size /= 1024
        if size < 1024 or unit == "TB":
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")
