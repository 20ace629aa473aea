"""Spare a warm process Numba's import of ``scipy.linalg`` at the first kernel.

The first time a process loads (or compiles) any Numba kernel, Numba imports
its array implementations, and ``numba.np.arraymath`` checks at import that a
BLAS is available by importing ``scipy.linalg.cython_blas``. That imports the
whole ``scipy.linalg`` package, which imports ``numpy.f2py`` and
``numpy.testing`` on the way: about 0.2 s of CPU, a fifth of a warm process
that fits and decodes a small model, although fasthmm's kernels call no BLAS
routine.

:func:`install` answers that one import-time check from what is on disk
instead (SciPy's ``cython_blas`` extension module present, and, in the Numba
versions that have it, Numba's own check that SciPy's BLAS integer width
matches the one Numba was built for), without importing ``scipy.linalg``. Every later check runs Numba's own code
unchanged: compiling a kernel that uses ``np.dot`` or ``np.linalg`` imports
``scipy.linalg`` as before, and a cached kernel that calls BLAS imports it
when first called (Numba looks BLAS routines up at that moment).
"""

import importlib.machinery
import importlib.util
import os
import sys

ARRAYMATH = "numba.np.arraymath"


def _cython_blas_on_disk():
    """True when SciPy is installed with its ``cython_blas`` module."""
    scipy = sys.modules.get("scipy")
    if scipy is not None:
        folders = getattr(scipy, "__path__", None) or ()
    else:  # without importing SciPy
        spec = importlib.util.find_spec("scipy")
        folders = (spec and spec.submodule_search_locations) or ()
    for folder in folders:
        stem = os.path.join(folder, "linalg", "cython_blas")
        if any(
            os.path.exists(stem + suffix)
            for suffix in importlib.machinery.EXTENSION_SUFFIXES
        ):
            return True
    return False


def _answer_first_check(linalg):
    """Replace ``linalg.ensure_blas`` by a check that answers its first call
    from disk, then hands every call to Numba's own function."""
    original = linalg.ensure_blas
    # Numba's check of SciPy's BLAS integer width (newer Numba versions).
    check_width = getattr(linalg, "_check_lapack_int_width", lambda: None)

    def ensure_blas():
        if linalg.ensure_blas is ensure_blas:
            linalg.ensure_blas = original  # later checks: Numba's own
            uninstall()
            if _cython_blas_on_disk():
                check_width()
                return
        original()

    linalg.ensure_blas = ensure_blas


class _ArraymathFinder:
    """Import hook that acts once, just before ``numba.np.arraymath`` loads
    (Numba imports ``numba.np.linalg`` first). It is removed by the first
    check, not here: the import system is iterating ``sys.meta_path``."""

    acted = False

    def find_spec(self, name, path=None, target=None):
        if name == ARRAYMATH and not self.acted:
            self.acted = True
            linalg = sys.modules.get("numba.np.linalg")
            if callable(getattr(linalg, "ensure_blas", None)):
                _answer_first_check(linalg)
        return None  # the ordinary finders load the module


_FINDER = _ArraymathFinder()


def install():
    """Arrange for Numba's first BLAS check to skip importing ``scipy.linalg``.

    Does nothing when Numba has already loaded its array implementations (a
    kernel ran before fasthmm was imported).

    Returns
    -------
    installed : bool
    """
    if ARRAYMATH in sys.modules or _FINDER in sys.meta_path:
        return False
    sys.meta_path.insert(0, _FINDER)
    return True


def uninstall():
    """Remove the import hook (the first BLAS check removes it)."""
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
