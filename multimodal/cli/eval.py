"""`multimodal eval DATA`: Recall@K both ways, zero-shot accuracy for class subfolders, analogies and clustering,
ANN recall of an index."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

from multimodal.batch_encode import DEFAULT_TEMPLATES
from multimodal.cli.common import add_index_options, add_model_options, env, print_json, settings_from
from multimodal.cli.progress import ProgressBar
from multimodal.encoder import load_encoder
from multimodal.errors import ConfigError
from multimodal.evaluate import EvalReport, ann_recall, evaluate_folder
from multimodal.index import Index, resolve_model
from multimodal.model_scores import write_last_eval
from multimodal.model_spec import folder_of


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "eval", help="measure a model on a captioned folder (Recall@K, zero-shot) and an index's ANN recall",
        description="Text→image and image→text Recall@1/5/10 on DATA's captioned images; zero-shot accuracy "
        "when DATA's subfolders are class names (per class, and the most frequent confusions); analogy "
        "completion (image − text + text) when DATA's captions carry attributes (generated folders) or with "
        "--analogies; k-means clustering against the classes or attributes, next to k-means on pixels; recall "
        "per caption language and a translation check when captions.jsonl tags languages; with "
        "--index/--chroma-url (or --ann), the recall@10 of the Chroma index against exact search. The model is "
        "--model, else the index's. A model folder (local-dir:) keeps the latest results in last_eval.json.",
    )
    p.add_argument("data", nargs="?", help="captioned folder (optional with --ann)")
    p.add_argument("--template", action="append", metavar="TEXT",
                   help=f"zero-shot prompt with {{label}} (repeatable; default {DEFAULT_TEMPLATES[0]!r})")
    p.add_argument("--analogies", metavar="FILE",
                   help="TSV of analogies: image (path under DATA) or text, minus text, plus text, expected "
                   "caption words[, group]; right when the nearest other image's captions hold every expected word")
    p.add_argument("--ann", action="store_true", help="also measure the index's ANN recall@10 (implied by "
                   "--index or --chroma-url)")
    p.add_argument("--batch-size", type=int, metavar="N", help="images per forward pass (default 16; "
                   f"env {env('batch_size')})")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_index_options(p)
    add_model_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    want_ann = args.ann or bool(args.index or settings.chroma_url)  # a server named by flag or env
    if not args.data and not want_ann:
        raise ConfigError("give a captioned folder to evaluate, or --ann / --index DIR to measure an index")
    # Without an index to measure, a --model is loaded directly: no index folder is created as a side effect.
    index = Index.open(settings) if want_ann or not settings.model else None
    report = EvalReport(None)
    model_name = None
    if args.data:
        if index is not None:
            encoder = index.encoder
            stored = index.store.model_spec()
            model_name = stored.model if stored else None
        else:
            spec = resolve_model(settings, None)
            model_name = spec.model
            encoder = load_encoder(spec.model, spec.pretrained or None, settings.device,
                                   precision=settings.precision)
        bar = ProgressBar("encoding", disabled=args.quiet or not sys.stderr.isatty(), leave=False)
        try:
            report = evaluate_folder(args.data, encoder, templates=args.template or DEFAULT_TEMPLATES,
                                     batch_size=settings.batch_size, workers=settings.workers, progress=bar.update,
                                     analogies=args.analogies)
        finally:
            bar.close()
        folder = folder_of(model_name or "")
        if folder is not None and folder.is_dir():
            write_last_eval(folder, args.data, report.to_dict())  # the UI's Storage tab shows it
    if index is not None and want_ann:
        report = replace(report, ann=ann_recall(index.store))
    if args.json:
        print_json(report.to_dict())
    else:
        _print(report)
    return 0


def _print(report: EvalReport) -> None:
    if report.retrieval:
        r = report.retrieval
        print(f"{r.images} images, {r.texts} distinct captions")
        for name, scores in (("text → image", r.text_to_image), ("image → text", r.image_to_text)):
            print(f"  {name}:  " + "  ".join(f"R@{k} {v:.3f}" for k, v in scores.items()))
    if report.zero_shot:
        z = report.zero_shot
        print(f"zero-shot accuracy {z.accuracy:.3f} over {len(z.per_class)} classes ({z.images} images)")
        for label, accuracy in z.per_class.items():
            print(f"  {label}: {accuracy:.3f}")
        if z.confusions:
            print("most confused: " + ", ".join(f"{c.true} → {c.predicted} ({c.count}, {c.share:.0%})"
                                                for c in z.confusions))
    if report.analogies:
        o = report.analogies.overall
        print(f"analogies (image − text + text) accuracy {o.accuracy:.3f}, baseline {o.baseline:.3f} "
              f"(plus text alone {o.plus_only:.3f}, image alone {o.image_only:.3f}; {o.n} analogies)")
        for group, g in report.analogies.per_attribute.items():
            print(f"  {group}: {g.accuracy:.3f} vs baseline {g.baseline:.3f} ({g.n})")
    for name, c in (report.clustering or {}).items():
        e, b = c.embedding, c.pixels
        print(f"clustering by {name} (k={e.k}): NMI {e.nmi:.3f} ARI {e.ari:.3f} purity {e.purity:.3f} "
              f"silhouette {e.silhouette:.3f}; pixels: NMI {b.nmi:.3f} ARI {b.ari:.3f} purity {b.purity:.3f} "
              f"silhouette {b.silhouette:.3f}")
    if report.languages:
        for lang, r in report.languages.per_language.items():
            print(f"  {lang} captions only, text → image:  "
                  + "  ".join(f"R@{k} {v:.3f}" for k, v in r.text_to_image.items()))
        for t in report.languages.translation:
            print(f"translation {t.source} → {t.target}: nearest caption is the translation for {t.accuracy:.3f} "
                  f"({t.pairs} captions)")
    if report.ann:
        a = report.ann
        print(f"index ANN recall@{a.k} {a.recall:.3f} ({a.queries} queries over {a.vectors} images)")
    for line in report.skipped:
        print(f"  skipped {line}", file=sys.stderr)
