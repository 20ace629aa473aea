"""fasthmm answers Numba's first BLAS check without importing ``scipy.linalg``
(see fasthmm/_blas_check.py), and Numba's linear algebra still works after it.

Each check runs in a fresh interpreter, where Numba has loaded no kernel yet.
"""

import importlib.util

import pytest

from tests.test_lazy_exports import run_fresh

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("scipy") is None, reason="Numba's BLAS needs SciPy"
)


def test_first_kernel_does_not_import_scipy_linalg_and_blas_still_works():
    out = run_fresh(
        """
        import json, sys
        import numpy as np
        import fasthmm
        from numba import njit

        # One of fasthmm's kernels, then a kernel of the user's own: Numba
        # loads its array implementations (and runs its BLAS check) first.
        rng = np.random.default_rng(0)
        fasthmm.forward(rng.normal(size=(5, 2)), np.full(2, 0.5), np.full((2, 2), 0.5))

        @njit
        def first(a):
            return a.sum()

        first(np.ones(3))
        before = "scipy.linalg" in sys.modules
        from numba.np import arraymath

        @njit
        def dot(a, b):
            return np.dot(a, b)

        @njit
        def solve(a, b):
            return np.linalg.solve(a, b)

        a = rng.normal(size=(3, 3)) + 3 * np.eye(3)
        b = rng.normal(size=3)
        print(json.dumps({
            "before": before,
            "have_blas": arraymath._HAVE_BLAS,
            "dot": np.abs(dot(a, b) - a @ b).max(),
            "solve": np.abs(a @ solve(a, b) - b).max(),
            "after": "scipy.linalg" in sys.modules,
            "hook_left": any("Arraymath" in type(f).__name__ for f in sys.meta_path),
        }))
        """
    )
    assert out["before"] is False
    # The same answer Numba's own check gives when SciPy is installed.
    assert out["have_blas"] is True
    assert out["dot"] < 1e-12
    assert out["solve"] < 1e-12
    assert out["after"] is True  # Numba's own check ran for np.dot
    assert out["hook_left"] is False


def test_cython_blas_found_on_disk_where_scipy_imports_it():
    import os

    import scipy
    import scipy.linalg.cython_blas as cython_blas

    from fasthmm import _blas_check

    assert _blas_check._cython_blas_on_disk()
    folder = os.path.dirname(cython_blas.__file__)
    assert any(
        os.path.samefile(folder, os.path.join(p, "linalg")) for p in scipy.__path__
    )


@pytest.mark.parametrize("on_disk", [True, False])
def test_only_the_first_check_is_answered_from_disk(monkeypatch, on_disk):
    """The first call runs Numba's width check alone when SciPy's cython_blas
    is on disk (else Numba's own check, which raises without SciPy); every
    later call is Numba's own."""
    import types

    from fasthmm import _blas_check

    calls = []
    linalg = types.SimpleNamespace(
        ensure_blas=lambda: calls.append("numba"),
        _check_lapack_int_width=lambda: calls.append("width"),
    )
    own = linalg.ensure_blas
    monkeypatch.setattr(_blas_check, "_cython_blas_on_disk", lambda: on_disk)
    _blas_check._answer_first_check(linalg)
    first = linalg.ensure_blas
    first()
    assert calls == (["width"] if on_disk else ["numba"])
    assert linalg.ensure_blas is own
    first()  # a module that kept the first function (numba.np.arraymath)
    linalg.ensure_blas()
    assert calls[-2:] == ["numba", "numba"]
