"""`--ray ADDRESS` and its sizing flags for `multimodal ingest` (the Ray code itself: multimodal.ray_ingest)."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from multimodal.errors import ConfigError

ENGINES = ("actors", "data")
WRITERS = ("driver", "workers")


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide: `address` is host:port, ray://host:port, `auto` (this machine's cluster) or `local`."""

    address: str
    workers: int = 0  # actors; 0 = as many as the cluster's CPUs (or GPUs) allow
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    engine: str = "actors"  # actors (the pool in ray_ingest) or data (Ray Data map_batches, a benchmark path)
    writes: str = "driver"  # who writes to a Chroma server: driver, or workers (a benchmark path)


def add_ray_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Ray (pip install 'multimodal[ray]')")
    group.add_argument("--ray", metavar="ADDRESS", help="read, decode and encode on a Ray cluster: host:port of its "
                       "head, ray://host:port, auto (the cluster this machine belongs to) or local (a throwaway "
                       "one); env MULTIMODAL_RAY_ADDRESS")
    group.add_argument("--ray-workers", type=int, metavar="N", help="model-holding workers (default: as many as "
                       "the cluster's CPUs, or GPUs with --ray-gpus-per-worker, allow)")
    group.add_argument("--ray-cpus-per-worker", type=float, metavar="N", default=1.0,
                       help="CPUs reserved per worker (default 1; also its decode and torch threads)")
    group.add_argument("--ray-gpus-per-worker", type=float, metavar="N", default=0.0,
                       help="GPUs per worker (1 puts one model on each GPU; default 0: CPU)")
    # Measured against the defaults with benchmarks/scale.py --ray and not chosen (docs/scaling.md); kept to
    # rerun that comparison, so they stay out of --help.
    group.add_argument("--ray-engine", choices=ENGINES, default="actors", help=argparse.SUPPRESS)
    group.add_argument("--ray-writes", choices=WRITERS, default="driver", help=argparse.SUPPRESS)


def ray_options(args: argparse.Namespace) -> RayOptions | None:
    """The Ray settings from flags, else MULTIMODAL_RAY_ADDRESS; None for a plain ingest."""
    address = getattr(args, "ray", None) or os.environ.get("MULTIMODAL_RAY_ADDRESS") or None
    if address is None:
        return None
    workers = args.ray_workers or 0
    if workers < 0 or args.ray_cpus_per_worker < 0 or args.ray_gpus_per_worker < 0:
        raise ConfigError("--ray-workers, --ray-cpus-per-worker and --ray-gpus-per-worker must not be negative")
    if args.ray_cpus_per_worker == 0 and args.ray_gpus_per_worker == 0:
        raise ConfigError("a Ray worker needs some CPU or GPU: --ray-cpus-per-worker or --ray-gpus-per-worker > 0")
    return RayOptions(address, workers, args.ray_cpus_per_worker, args.ray_gpus_per_worker,
                      getattr(args, "ray_engine", "actors"), getattr(args, "ray_writes", "driver"))
