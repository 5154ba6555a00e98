"""Entry point: parse, dispatch to a subcommand module, turn library errors into one-line messages."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from multimodal.errors import ConfigError, MultimodalError

# Each name is a module multimodal/cli/<name>.py defining add_parser(subparsers) and run(args) -> int.
COMMANDS = ["ingest", "search", "info", "ui", "duplicates", "tag", "map", "probe", "train", "eval", "demo"]

EXIT_FAILED = 1  # the run could not proceed (store unreachable, weights missing, ...)
EXIT_USAGE = 2  # a flag or argument is wrong (argparse uses 2 as well)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="multimodal",
        description="Search your images and captions by text, by image, or both (OpenCLIP + Chroma).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"multimodal.cli.{name}")
        sub = module.add_parser(subparsers)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    args = build_parser().parse_args(argv)
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
