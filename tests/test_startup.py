"""A warm process's start (fasthmm/_startup.py): fasthmm's cached kernels
load without Numba's compiler registries and give the results of Numba's own
loading; anything compiled afterwards still compiles; the import holds the
garbage collector and leaves it as it was.

The kernel checks run in fresh interpreters, after one that fills the cache.
"""

import gc
import sys

import numpy as np
import pytest

from tests.test_lazy_exports import run_fresh

# Run first in each fresh interpreter: records the kernels Numba compiles;
# REPORT then prints them, the modules of REGISTRY_MODULES it imported and
# ``result``.
PRELUDE = """
import json, sys
from numba.core import event

# Modules Numba imports only to refresh its compiler's registries.
REGISTRY_MODULES = [
    "numba.typed.typeddict", "numba.np.polynomial.polynomial_core",
    "numba.np.random.generator_methods", "numba.np.npdatetime",
]
compiled = []

class Compiles(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__qualname__)

    def on_end(self, ev):
        pass

event.register("numba:compile", Compiles())
"""

REPORT = """
print(json.dumps({
    "result": result,
    "compiled": compiled,
    "registries": [m for m in REGISTRY_MODULES if m in sys.modules],
}))
"""

# A first fit and the inference calls after it (the first-hour script's
# work), a parallel kernel (a large diagonal Gaussian batch), a categorical
# and a Poisson model.
WORK = """
import numpy as np
import fasthmm

if NUMBAS_OWN:  # undo fasthmm's light loading: Numba's own method
    from numba.core import caching
    caching.Cache.load_overload = caching.Cache.load_overload.__wrapped__

rng = np.random.default_rng(0)
X = np.concatenate([rng.normal(0, 1, (150, 2)), rng.normal(4, 1, (150, 2))])
g = fasthmm.GaussianHMM(3, n_iter=5, random_state=0).fit(X)
big = np.repeat(X, 300, axis=0)  # 90,000 rows: the parallel kernels
s = fasthmm.CategoricalHMM(2, n_iter=5, random_state=0).fit(
    rng.integers(0, 3, (200, 1))
)
p = fasthmm.PoissonHMM(2, n_iter=5, random_state=0).fit(rng.poisson(3, (200, 2)))
result = {
    "means": g.means_.tolist(),
    "score": g.score(X),
    "states": g.decode(X)[1].tolist(),
    "proba": g.predict_proba(X).tolist(),
    "filtered": g.filter_proba(X).tolist(),
    "big": g.score(big),
    "emissionprob": s.emissionprob_.tolist(),
    "lambdas": p.lambdas_.tolist(),
}
"""


def _fresh(code):
    """Run ``code`` between PRELUDE and REPORT in a fresh interpreter."""
    return run_fresh(PRELUDE + code + REPORT)


def _work(numbas_own):
    return _fresh(f"NUMBAS_OWN = {numbas_own}\n" + WORK)


@pytest.fixture(scope="module")
def warm_cache():
    """Run the work once so that every kernel it needs is in the cache."""
    _work(False)


def test_cached_kernels_load_without_registries_and_equal_numbas_loading(
    warm_cache,
):
    light = _work(False)
    if light["compiled"]:
        pytest.skip(f"the kernel cache is not used here: {light['compiled']}")
    own = _work(True)
    assert own["compiled"] == []
    assert light["registries"] == []
    assert own["registries"]  # Numba's loading imports them: the check can fail
    assert light["result"] == own["result"]


def test_compiling_after_light_loads_refreshes_the_registries(warm_cache):
    out = _fresh(
        """
import numpy as np
import fasthmm
from numba import njit, typed

X = np.random.default_rng(1).normal(size=(50, 2))
fasthmm.GaussianHMM(2, n_iter=2, random_state=0).fit(X)
light = "numba.typed.typeddict" not in sys.modules

@njit
def uses_registries(n):
    d = typed.Dict()
    for i in range(n):
        d[i] = np.sqrt(float(i))
    total = 0.0
    for v in d.values():
        total += v
    words = ["a", "bb", "ccc"]
    return total + len(words[n % 3]) + np.sort(np.arange(n))[-1]

value = uses_registries(5)
expected = sum(np.sqrt(i) for i in range(5)) + 3 + 4
result = {"light": light, "error": abs(value - expected)}
"""
    )
    assert out["result"]["light"] is True
    assert out["result"]["error"] < 1e-12
    assert out["registries"]  # the compile refreshed them


def test_cli_fit_loads_no_registry_module(tmp_path):
    rng = np.random.default_rng(2)
    data = tmp_path / "small.csv"
    X = np.concatenate([rng.normal(0, 1, (100, 2)), rng.normal(4, 1, (100, 2))])
    np.savetxt(data, X, delimiter=",", header="a,b", comments="")
    argv = ["fit", str(data), "-k", "3", "-o", str(tmp_path / "m.npz"), "-q"]
    code = f"from fasthmm.cli import main\nresult = main({argv!r})\n"
    _fresh(code)  # fills the cache
    out = _fresh(code)
    if out["compiled"]:
        pytest.skip(f"the kernel cache is not used here: {out['compiled']}")
    assert out["result"] == 0
    assert out["registries"] == []


def test_other_functions_load_as_numba_loads_them():
    from numba.core import caching

    from fasthmm import _startup

    method = caching.Cache.load_overload
    assert method.fasthmm_light
    assert not _startup.load_cached_kernels_lightly()  # installed once

    class Cache:
        def __init__(self, module):
            self._py_func = type("F", (), {"__module__": module})()

    assert _startup._is_fasthmm(Cache("fasthmm._kernels.direct"))
    assert _startup._is_fasthmm(Cache("fasthmm"))
    assert not _startup._is_fasthmm(Cache("fasthmmx.kernels"))
    assert not _startup._is_fasthmm(Cache("__main__"))


class Made:
    """A container object the collector tracks."""


def _generation(obj):
    return next(g for g in range(3) if any(o is obj for o in gc.get_objects(g)))


def test_collector_paused_puts_new_objects_in_the_oldest_generation():
    from fasthmm._startup import collector_paused

    assert gc.isenabled() and gc.get_freeze_count() == 0
    with collector_paused():
        assert not gc.isenabled()
        made = Made()
        outside = gc.get_count()
    assert gc.isenabled()
    assert outside[0] > 0
    if sys.version_info < (3, 13):  # three generations, the oldest 2
        assert _generation(made) == 2
    else:
        assert _generation(made) != 0
    assert gc.get_count()[0] < outside[0]  # the next collection is not due


def test_collector_paused_leaves_a_held_collector_and_frozen_objects_alone():
    from fasthmm._startup import collector_paused

    gc.disable()
    try:
        with collector_paused():
            made = Made()
        assert not gc.isenabled()
        assert _generation(made) == 0  # nothing moved
    finally:
        gc.enable()
    frozen = Made()
    gc.freeze()
    try:
        with collector_paused():
            made = Made()
        assert gc.isenabled()
        assert gc.get_freeze_count() > 0
        assert not any(o is frozen for o in gc.get_objects())  # still frozen
        assert _generation(made) in (0, 1)  # examined in the usual way
    finally:
        gc.unfreeze()


def test_collector_paused_runs_again_after_an_error():
    from fasthmm._startup import collector_paused

    with pytest.raises(ImportError), collector_paused():
        raise ImportError("a failed import")
    assert gc.isenabled()


def test_every_kernel_loads_lightly_from_the_cache():
    """Every route ``fasthmm compile`` covers (all of fasthmm's kernels, the
    parallel forms too) loads from the cache with the light loading and no
    registry: a kernel whose machine code needed a symbol that only the
    registries provide would fail to load here, not in a user's process."""
    code = (
        "from fasthmm import _compile\n"
        "result = {'failed': _compile.compile_all(),"
        " 'kernels': len(_compile.compiled_kernels())}\n"
    )
    _fresh(code)  # fills the cache (the suite's compile test usually has)
    out = _fresh(code)
    if out["compiled"]:
        pytest.skip(f"the kernel cache is not used here: {out['compiled']}")
    assert out["result"]["failed"] == {}
    assert out["result"]["kernels"] > 20
    assert out["registries"] == []
