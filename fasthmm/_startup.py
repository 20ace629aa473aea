"""Make a warm process's start cheaper: the import and the first kernel load.

Two costs of a process that runs fasthmm's cached kernels are not the
kernels' own:

* **The garbage collector during the import.** Importing NumPy, Numba and
  fasthmm creates some 50,000 objects that live as long as the process. The
  collector examines young objects each time 700 more have been made, and
  moves survivors to older generations that it examines again: about 0.06 s
  of CPU during ``import fasthmm`` that finds nothing to free.
  :func:`collector_paused` holds the collector during the import and then
  puts what the import made straight into the oldest generation, unexamined
  (a later full collection still examines, and frees, them as usual).
* **Numba's set-up at the first kernel loaded from its cache.** Before it
  loads a cached kernel, Numba refreshes its compiler's registries: it
  imports and registers the implementations of everything a kernel could
  use (strings, lists, dictionaries, sets, random generators, polynomials,
  datetimes, jitclasses, the third-party extensions) so that it can compile.
  A cached kernel is machine code that needs none of them, only Numba's
  runtime: about 0.13 s of CPU in a process that compiles nothing.
  :func:`load_cached_kernels_lightly` lets fasthmm's own kernels load with
  just the runtime initialised; the first kernel Numba compiles, fasthmm's or
  anyone's, refreshes the registries as before (Numba's compiler does that
  before every compile), and functions outside fasthmm load as Numba loads
  them.
"""

import contextlib
import functools
import gc


@contextlib.contextmanager
def collector_paused():
    """Hold the garbage collector for the block (an import).

    On leaving, the objects made meanwhile (and any others still in the
    younger generations) go to the oldest generation without being
    examined, then the collector runs again as before. Does nothing when the
    collector is already off; when objects are frozen (:func:`gc.freeze`),
    they are left frozen and the collector examines the new objects in its
    usual way.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            # freeze moves every tracked object aside and resets the count
            # that triggers the next collection; unfreeze puts them all in
            # the oldest generation.
            gc.freeze()
            gc.unfreeze()
        gc.enable()


def _is_fasthmm(cache):
    """True when a Numba cache object belongs to one of fasthmm's kernels."""
    func = getattr(cache, "_py_func", None)
    module = getattr(func, "__module__", None) or ""
    return module.split(".")[0] == "fasthmm"


def load_cached_kernels_lightly():
    """Load fasthmm's cached kernels with only Numba's runtime initialised.

    Replaces ``numba.core.caching.Cache.load_overload`` with a version that,
    for fasthmm's kernels, initialises Numba's runtime (the memory
    management the machine code calls) instead of refreshing every registry
    of the compiler; any other function goes to Numba's own method. A kernel
    missing from the cache is compiled by Numba's compiler, which refreshes
    the registries first. Does nothing when this Numba has not the methods
    it relies on, or when installed already.

    Returns
    -------
    installed : bool
    """
    try:
        from numba.core import caching
        from numba.core.runtime import rtsys
    except ImportError:
        return False
    cache = getattr(caching, "Cache", None)
    original = getattr(cache, "load_overload", None)
    needed = ("_load_overload", "_guard_against_spurious_io_errors")
    if (
        original is None
        or getattr(original, "fasthmm_light", False)
        or not all(callable(getattr(cache, name, None)) for name in needed)
        or not callable(getattr(rtsys, "initialize", None))
    ):
        return False

    @functools.wraps(original)
    def load_overload(self, sig, target_context):
        if not _is_fasthmm(self):
            return original(self, sig, target_context)
        rtsys.initialize(target_context)
        with self._guard_against_spurious_io_errors():
            return self._load_overload(sig, target_context)

    load_overload.fasthmm_light = True
    cache.load_overload = load_overload
    return True
