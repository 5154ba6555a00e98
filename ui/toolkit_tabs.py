"""The embedding-space toolkit in the web UI: Duplicates, Tags, Map, Bias probe and Storage tabs.

`add_toolkit_tabs(service)` adds them inside the app's `gr.Tabs()`. What each button does is a method
of `Toolkit` (plain values in, plain values out, the library's typed errors raised), so it is tested
without a browser; the work goes through the app's `SearchService` (its model, lock, thumbnails and exposure
rules) to the library (multimodal.duplicates, tagging, space_map, probe). In the page, an error is one toast
and the tab keeps what it showed, as on the Search tab. Writing to the index (tagging) and naming server
folders (probe targets) need a trusted UI, as ingest does.
"""

from __future__ import annotations

import csv
import html
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from multimodal.duplicate_moves import FileDetails
from multimodal.duplicates import DEFAULT_RELATIVE, DuplicateGroup, DuplicateReport
from multimodal.errors import ConfigError, MultimodalError
from multimodal.map_page import COLOUR_BY
from multimodal.model_scores import ModelScores
from ui.handlers import toast_errors
from ui.service import SearchService
from ui.thumbnails import Source
from ui.views import file_size

UI_MAP_SAMPLE = 500  # points drawn in the UI (thumbnails are made for each); the CLI goes further
_MAX_GROUP_SHOWN = 24
DETAIL_COLUMNS = ["name", "size", "dimensions", "date", "folder"]


@dataclass(frozen=True)
class Found:
    """What the Duplicates tab found: the report and the stored details of every file in it."""

    report: DuplicateReport
    details: dict[str, FileDetails]


class Toolkit:
    """The tabs' actions, each a few lines over the app's `SearchService` (its model, lock, thumbnails and
    exposure rules). They raise the library's typed errors; `add_toolkit_tabs` shows those as toasts."""

    def __init__(self, service: SearchService) -> None:
        self.service = service

    # -- duplicates ------------------------------------------------------------------------
    def duplicates(self, threshold: float, folder: str) -> tuple[str, Any, Found]:
        """Status text, the group picker, and what was found (kept in a State). Never moves or deletes."""
        report, details = self.service.duplicates(threshold or None, folder or "")
        how = (f"similarity ≥ {report.threshold:.3f}" if report.threshold is not None else
               f"similarity relative to each image's neighbourhood ({DEFAULT_RELATIVE}): "
               f"≥ {report.typical_threshold:.3f} typically")
        status = (f"**{len(report.near)}** groups of near duplicates and **{len(report.exact)}** groups of "
                  f"identical files among {report.images} images; candidates by {how}, kept only when the "
                  "pictures' perceptual hashes agree.")
        if report.rejected:
            status += (f" {report.rejected} pairs were close in the embedding but are different pictures "
                       "(similar, not duplicates): not listed.")
        if report.unhashed:
            status += (f" **{report.unhashed} images have no perceptual hash** (indexed by an older version): "
                       "ingest their folders again to check them.")
        choices = [_group_label("near", n, g) for n, g in enumerate(report.near)]
        choices += [_group_label("identical", n, g) for n, g in enumerate(report.exact)]
        return status, gr.update(choices=choices, value=choices[0] if choices else None), Found(report, details)

    def group_images(self, choice: str | None, found: Found | None) -> tuple[list[tuple[str, str]], list[list[str]]]:
        """The chosen group's thumbnails side by side (captioned with the file name) and a table of each
        file's name, size, dimensions, date and folder, from the index (no file is opened)."""
        if not choice or found is None:
            return [], []
        kind, number = choice.split(" ", 2)[:2]
        group = (found.report.near if kind == "near" else found.report.exact)[int(number.strip("#:")) - 1]
        paths = group.paths[:_MAX_GROUP_SHOWN]
        shown = self.service.thumbnails.many([Source(p) for p in paths])
        rows = [_detail_row(p, found.details.get(p)) for p in paths]
        return ([(str(thumb), " · ".join(row[:4])) for thumb, row in zip(shown, rows, strict=True)], rows)

    def export_duplicates(self, found: Found | None) -> str | None:
        """Every group as a CSV file (group, kind, path and the details); the path of that file, for download."""
        if found is None:
            raise ConfigError("Find duplicates first.")
        out = Path(tempfile.mkdtemp(prefix="mm-duplicates-")) / f"duplicates-{time.strftime('%Y%m%d-%H%M%S')}.csv"
        with open(out, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["group", "kind", "path", "name", "size (bytes)", *DETAIL_COLUMNS[2:4], "similarity"])
            groups = [("near", g) for g in found.report.near] + [("identical", g) for g in found.report.exact]
            for n, (kind, group) in enumerate(groups, start=1):
                for path in group.paths:
                    info = found.details.get(path)
                    name, _, dims, date, _ = _detail_row(path, info)
                    writer.writerow([n, kind, path, name, info.size if info else "", dims, date, group.similarity])
        return str(out)

    # -- tags ------------------------------------------------------------------------------
    def tag(self, labels: str, templates: str, top: float, min_score: float) -> str:
        prompts = tuple(t.strip() for t in templates.splitlines() if t.strip()) or ("a photo of a {label}",)
        report = self.service.tag(labels, prompts, int(top), float(min_score))
        rows = "\n".join(f"| {label} | {report.counts.get(label, 0)} |" for label in report.labels)
        return (f"Tagged {report.images - report.untagged} of {report.images} images in {report.seconds:.1f}s; "
                f"search with the tag filter (`multimodal search ... --tag LABEL`).\n\n| label | images |\n|---|---|\n"
                f"{rows}" + (f"\n| (below min score) | {report.untagged} |" if report.untagged else ""))

    def current_tags(self) -> str:
        try:
            tags = self.service.known_tags()
        except MultimodalError as e:
            return str(e)
        return f"Current tags: {', '.join(tags)}" if tags else "The index has no tags yet."

    # -- map -------------------------------------------------------------------------------
    def map(self, queries: str, colour_by: str, sample: float, with_thumbnails: bool, draw: str = "points") -> str:
        """The map page in an iframe; `draw` "thumbnails" draws an image atlas (thumbnails at their places)."""
        texts = [q.strip() for q in queries.splitlines() if q.strip()]
        page = self.service.space_map(texts, int(sample), colour_by, with_thumbnails, draw)
        # An iframe keeps the page's own script and styles apart from Gradio's.
        return (f'<iframe title="map of the embedding space" srcdoc="{html.escape(page, quote=True)}" '
                'style="width:100%;height:82vh;border:0"></iframe>')

    # -- bias probe ------------------------------------------------------------------------
    def probe(self, targets: str, first: str, second: str, template: str, permutations: float) -> str:
        if not targets.strip():
            raise ConfigError("name two image groups, e.g. tag:cat,tag:dog (or two folders on this machine)")
        result = self.service.probe(targets, first, second, template.strip() or "{word}", int(permutations))
        (x, y), (a, b) = result.targets, result.attributes
        return (f"**{result.sentence}**\n\n| | {x} | {y} |\n|---|---|---|\n| images | {result.sizes[0]} | "
                f"{result.sizes[1]} |\n| mean association ({a} − {b}) | {result.mean_association[0]:+.4f} | "
                f"{result.mean_association[1]:+.4f} |\n\nEffect size **{result.effect_size:+.3f}**, p = "
                f"{result.p_value:.4g} (two-sided, {result.permutations} permutations). See the README's "
                "Toolkit section for what this probe cannot tell you.")

    # -- storage ---------------------------------------------------------------------------
    def storage(self) -> str:
        """How vectors are stored, as text (read at every page load: an empty index says so here, no toast)."""
        try:
            return "\n\n".join(self._storage_lines())
        except MultimodalError as e:
            return str(e)

    def measure(self) -> str:
        """The storage text plus the search's measured recall (the button; errors raise, shown as a toast)."""
        lines = self._storage_lines()
        scores = self.service.search_recall()
        lines.append(f"Search recall@{scores.k}: **{scores.recall:.3f}** of the exact top {scores.k} "
                     f"(over the stored vectors, {scores.queries} queries, {scores.vectors} images).")
        return "\n\n".join(lines)

    def _storage_lines(self) -> list[str]:
        facts = self.service.storage()
        lines = [f"Vectors are stored as **{facts.codec}**: {facts.stored} numbers each (the model makes {facts.dim}).",
                 "The form is chosen at the first ingest (`multimodal ingest --compress float16|pcaN`)."]
        if facts.scores is not None:
            lines += _model_score_lines(facts.scores) or [
                f"No measured numbers beside the model yet: `multimodal eval DATA --model {facts.model}` records them."]
        return lines


def add_toolkit_tabs(service: SearchService) -> None:
    """Add the toolkit's tabs over the app's service; call inside the app's `gr.Tabs()` block. Errors show as
    one toast and leave the tab as it was, as on the Search tab."""
    kit = Toolkit(service)
    trusted = service.exposure.trusted
    private: dict[str, Any] = {"api_visibility": "private"}
    with gr.Tab("Duplicates", id="duplicates"):
        with gr.Row():
            threshold = gr.Slider(0, 1, value=0, step=0.005, label="Similarity threshold",
                                  info="0 = relative to each image's neighbourhood (measured default)")
            folder = gr.Textbox(label="Folder", placeholder="only images under this folder")
            find = gr.Button("Find duplicates", variant="primary")
        status = gr.Markdown()
        picker = gr.Dropdown(label="Group", choices=[], interactive=True)
        side_by_side = gr.Gallery(label="Side by side", columns=4, height="auto", object_fit="contain",
                                  elem_id="mm-duplicates")
        details = gr.Dataframe(headers=DETAIL_COLUMNS, label="Files in this group (nothing is ever deleted here)",
                               interactive=False, wrap=True, elem_id="mm-duplicate-details")
        with gr.Row():
            export = gr.Button("Export the list (CSV)", size="sm")
            exported = gr.File(label="Duplicates list", interactive=False)
        report = gr.State(None)
        find.click(toast_errors(kit.duplicates), [threshold, folder], [status, picker, report], **private)
        picker.change(toast_errors(kit.group_images), [picker, report], [side_by_side, details], **private)
        export.click(toast_errors(kit.export_duplicates), report, exported, **private)
    with gr.Tab("Tags", id="tags"):
        current = gr.Markdown(kit.current_tags)  # a callable value: read again at every page load
        labels = gr.Textbox(label="Labels", placeholder="cat, dog, car", interactive=trusted)
        templates = gr.Textbox(label="Prompt templates, one per line", value="a photo of a {label}", lines=2)
        with gr.Row():
            top = gr.Slider(1, 5, value=1, step=1, label="Labels per image")
            min_score = gr.Slider(0, 0.99, value=0, step=0.01, label="Minimum score")
        run_tag = gr.Button("Tag images", variant="primary", interactive=trusted)
        tagged = gr.Markdown("" if trusted else "Tagging writes to the index: off on a public UI without a password.")
        run_tag.click(toast_errors(kit.tag), [labels, templates, top, min_score], tagged, **private).then(
            kit.current_tags, None, current, **private)
    with gr.Tab("Map", id="map"):
        with gr.Row():
            queries = gr.Textbox(label="Queries to place (one per line)", lines=2, scale=3)
            colour_by = gr.Radio(list(COLOUR_BY), value="auto", label="Colour by", scale=2)
            sample = gr.Slider(10, 5000, value=UI_MAP_SAMPLE, step=10, label="Images", scale=2)
            with_thumbs = gr.Checkbox(value=True, label="Thumbnails on hover", scale=1)
            mode = gr.Radio([("Points", "points"), ("Thumbnails (image atlas)", "thumbnails")], value="points",
                            label="Draw", info="the page can switch too", scale=2, elem_id="mm-map-draw")
        draw = gr.Button("Draw the map", variant="primary")
        page = gr.HTML()
        draw.click(toast_errors(kit.map), [queries, colour_by, sample, with_thumbs, mode], page, **private)
    with gr.Tab("Bias probe", id="probe"):
        targets = gr.Textbox(label="Two image groups", placeholder="tag:doctor,tag:nurse  or  /photos/a,/photos/b")
        with gr.Row():
            first = gr.Textbox(label="Attribute words A", placeholder="pleasant: joy, love, peace")
            second = gr.Textbox(label="Attribute words B", placeholder="unpleasant: agony, war, filth")
        with gr.Row():
            template = gr.Textbox(label="Template", value="{word}")
            permutations = gr.Slider(1000, 50000, value=10000, step=1000, label="Permutations")
        probe = gr.Button("Run the probe", variant="primary")
        verdict = gr.Markdown()
        probe.click(toast_errors(kit.probe), [targets, first, second, template, permutations], verdict, **private)
    with gr.Tab("Storage", id="storage"):
        storage = gr.Markdown(kit.storage)
        measure = gr.Button("Measure search recall")
        measure.click(toast_errors(kit.measure), None, storage, **private)
        refresh = gr.Button("Refresh", size="sm")
        refresh.click(kit.storage, None, storage, **private)


def _group_label(kind: str, n: int, group: DuplicateGroup) -> str:
    first = Path(group.paths[0]).name
    return f"{kind} #{n + 1}: {len(group.paths)} images, weakest link {group.similarity:.3f} — {first}"


def _detail_row(path: str, info: FileDetails | None) -> list[str]:
    """Name, size, dimensions, date and folder of one file, as table cells."""
    name, folder = Path(path).name, str(Path(path).parent)
    if info is None:
        return [name, "", "", "", folder]
    date = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.date)) if info.date else ""
    return [name, file_size(info.size), f"{info.width}×{info.height}", date, folder]


def _model_score_lines(scores: ModelScores) -> list[str]:
    """Markdown lines for the UI: the last eval's Recall@K (and zero-shot), and the kept training epoch's."""
    lines = []
    if scores.last_eval:
        report = scores.last_eval.get("report") or {}
        line = f"Last `multimodal eval` ({scores.last_eval.get('when', '?')}, on `{scores.last_eval.get('data')}`): "
        line += _recall_line(report)
        if report.get("zero_shot"):
            z = report["zero_shot"]
            line += f"; zero-shot accuracy **{z['accuracy']:.3f}** over {z['classes']} classes"
            if z.get("confusions"):
                c = z["confusions"][0]
                line += f" (most confused: {c['true']} → {c['predicted']}, {c['n']} images)"
        lines.append(line + ".")
    if scores.kept_epoch:
        e = scores.kept_epoch
        which = "validation" if e.get("val") else "eval set"
        measured = e.get("val") or e.get("eval")
        line = f"Training kept epoch {e['epoch']} of {scores.last_epoch}"
        lines.append(line + (f", {which}: {_recall_line(measured)}." if measured else " (no held-out scores)."))
    return lines


def _recall_line(report: dict[str, Any]) -> str:
    t2i = report.get("text_to_image") or {}
    if not t2i:
        return "no retrieval scores"
    return "text → image " + ", ".join(f"{k} **{v:.3f}**" for k, v in t2i.items()) + f" ({report.get('n')} images)"
