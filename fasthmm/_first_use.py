"""Announce the first-use compilation of the Numba kernels (logger "fasthmm").

Numba compiles each kernel the first time it runs and caches the machine code
on disk (``fasthmm/_kernels/__pycache__``, or under ``NUMBA_CACHE_DIR``), so
only the first process after an installation or upgrade pays several seconds.
The first time in a process that Numba actually compiles one of fasthmm's
kernels (a kernel missing from the cache: Numba's ``numba:compile`` event,
which loading from the cache does not raise), a WARNING says what is
happening, whatever call needed it; after the first public call of a process
a DEBUG record gives its time. Silence both with
``logging.getLogger("fasthmm").setLevel(logging.ERROR)``.
"""

import logging
import time

from numba.core import event

logger = logging.getLogger("fasthmm")

_state = {"done": False, "warned": False}

MESSAGE = (
    "compiling fasthmm's Numba kernels for first use: several seconds, once; "
    "they are cached on disk for later runs"
)


class CompileNotice(event.Listener):
    """Logs :data:`MESSAGE` when the first fasthmm kernel of the process compiles."""

    def on_start(self, ev):
        func = getattr(ev.data.get("dispatcher"), "py_func", None)
        module = getattr(func, "__module__", "") or ""
        if module.split(".")[0] == "fasthmm" and not _state["warned"]:
            _state["warned"] = True
            logger.warning(MESSAGE)

    def on_end(self, ev):
        pass


event.register("numba:compile", CompileNotice())


class FirstCall:
    """Context manager around a public call: times the first one (DEBUG)."""

    def __enter__(self):
        self.first = not _state["done"]
        if self.first:
            _state["done"] = True
            self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.first:
            logger.debug(
                "first call (Numba loading or compiling kernels) took %.1f s",
                time.perf_counter() - self.start,
            )
