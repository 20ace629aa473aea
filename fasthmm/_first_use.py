"""Announce the first-use compilation of the Numba kernels (logger "fasthmm").

Numba compiles each kernel the first time it runs and caches the machine code
on disk (``fasthmm/_kernels/__pycache__``, or under ``NUMBA_CACHE_DIR``), so
only the first process after an installation or upgrade pays several seconds.
On the first public call of a process, when no cache of the core kernels is
found, a WARNING says what is about to happen; after that call a DEBUG record
gives its time. Silence both with
``logging.getLogger("fasthmm").setLevel(logging.ERROR)``.
"""

import glob
import logging
import os
import time

logger = logging.getLogger("fasthmm")

_state = {"done": False}


def _cache_dirs():
    kernels = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_kernels")
    custom = os.environ.get("NUMBA_CACHE_DIR")
    # Numba caches under NUMBA_CACHE_DIR alone when it is set.
    return [custom] if custom else [os.path.join(kernels, "__pycache__")]


def kernels_cached():
    """Whether a disk cache of the core kernels exists (a heuristic: the
    cache of a given specialisation may still be missing or stale)."""
    for d in _cache_dirs():
        if glob.glob(os.path.join(d, "**", "hmm.*.nbi"), recursive=True):
            return True
    return False


class FirstCall:
    """Context manager around a public call: announces the first one."""

    def __enter__(self):
        self.first = not _state["done"]
        if self.first:
            _state["done"] = True
            self.start = time.perf_counter()
            if not kernels_cached():
                logger.warning(
                    "compiling fasthmm's Numba kernels for first use: several "
                    "seconds, once; they are cached on disk for later runs"
                )
        return self

    def __exit__(self, *exc):
        if self.first:
            logger.debug(
                "first call (Numba loading or compiling kernels) took %.1f s",
                time.perf_counter() - self.start,
            )
