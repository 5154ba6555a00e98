"""OpenMP's wait policy for the encoder's threads: set by the entry points (CLI, UI, benchmarks), not on import.

The encoder's OpenMP threads sleep, rather than spin, while they wait for work. With few cores and other work
competing for them (our decoding threads, other programs), spinning burns the time that work needs: on 2 busy
cores a ViT-B-32 text query took 0.8-1.4 s spinning, 0.12-0.25 s passive. libgomp reads the variable once, when
torch loads, so it must be set before the first torch import. Importing `multimodal` does not set it (a library
should not change its host's environment); a program using the library calls `passive_wait_policy()` first, or
sets OMP_WAIT_POLICY=PASSIVE itself.
"""

from __future__ import annotations

import os
import sys


def passive_wait_policy() -> bool:
    """Set OMP_WAIT_POLICY=PASSIVE unless the user chose a policy; False when torch is already loaded (too late)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return "torch" not in sys.modules
