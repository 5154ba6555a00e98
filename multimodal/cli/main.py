"""Entry point: parse, dispatch to a subcommand module, turn library errors into one-line messages."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from multimodal.errors import ConfigError, MultimodalError
from multimodal.openmp import passive_wait_policy

# Each name is a module multimodal/cli/<name>.py defining add_parser(subparsers) and run(args) -> int, with
# the one-line help its add_parser gives (repeated here so `multimodal --help` imports no subcommand module;
# tests/test_startup.py checks that the two agree).
COMMANDS = {
    "ingest": "add a folder of images (and captions) to the index",
    "search": "search by text, image, or both",
    "info": "show what the index holds and which model built it",
    "ui": "open the web UI: search by text, image or both, browse, ingest",
    "duplicates": "find near-duplicate and identical images",
    "tag": "label indexed images zero-shot from a list of words",
    "map": "write an interactive 2-D map of the collection as one HTML file",
    "probe": "measure how two image groups associate with two word sets (WEAT-style)",
    "train": "train or fine-tune a model on captioned images",
    "eval": "measure a model on a captioned folder (Recall@K, zero-shot) and an index's ANN recall",
    "demo": "see it work offline: sample images, a tiny model trained on them, search UI",
}

EXIT_FAILED = 1  # the run could not proceed (store unreachable, weights missing, ...)
EXIT_USAGE = 2  # a flag or argument is wrong (argparse uses 2 as well)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The CLI's parser; only `command`'s module is imported (None: every command's, for tests and docs).

    The other commands get a placeholder with their help line, which is all `multimodal --help` shows, so
    `--help`, `COMMAND --help` and usage errors cost no torch, Chroma or Gradio import.
    """
    parser = argparse.ArgumentParser(
        prog="multimodal",
        description="Search your images and captions by text, by image, or both (OpenCLIP + Chroma).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_line in COMMANDS.items():
        if command is None or name == command:
            module = importlib.import_module(f"multimodal.cli.{name}")
            sub = module.add_parser(subparsers)
            sub.set_defaults(_run=module.run)
        else:
            subparsers.add_parser(name, help=help_line)
    return parser


def _command(argv: Sequence[str]) -> str:
    """The subcommand named in `argv` ("" when none is: argparse then prints the usage)."""
    return argv[0] if argv and argv[0] in COMMANDS else ""


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    passive_wait_policy()  # before torch loads (see multimodal/openmp.py)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_command(argv)).parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except ConfigError as e:
        print(f"multimodal {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except MultimodalError as e:
        print(f"multimodal {args.command}: error: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"multimodal {args.command}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `multimodal search ... | head`
        sys.stderr.close()
        return 0
