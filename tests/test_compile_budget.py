"""The compile budget: what a new user's first hour compiles.

The first-hour tasks (:func:`fasthmm._compile.first_hour`: GaussianHMM fit,
score, decode, predict_proba, filter_proba; CategoricalHMM fit, score,
decode) run in a fresh process; every kernel they use must hold exactly one
signature (float64 / int64, C-contiguous: converted at the boundary, so no
second specialisation is ever compiled), and their number must stay within
the budget written in docs/architecture.md. Loaded from the cache or
compiled, a kernel counts the same, so the test is cheap on a warm cache.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import json
from fasthmm import _compile
_compile.first_hour(n_iter=2)
print(json.dumps(_compile.compiled_kernels()))
"""


def _documented_budget():
    text = (ROOT / "docs" / "architecture.md").read_text()
    match = re.search(r"tasks\b[^*]*compile at most \*\*(\d+)\*\* kernels", text)
    assert match, "docs/architecture.md must state the compile budget"
    return int(match.group(1))


def _first_hour_kernels():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH")) if p
    )
    out = subprocess.run(
        [sys.executable, "-c", CHILD],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_first_hour_kernels_hold_one_signature_within_the_budget():
    kernels = _first_hour_kernels()
    assert kernels, "no kernel found: the accounting itself is broken"
    several = {name: n for name, n in kernels.items() if n != 1}
    assert not several, f"kernels compiled for more than one signature: {several}"
    budget = _documented_budget()
    assert len(kernels) <= budget, (
        f"the first-hour tasks compiled {len(kernels)} kernels, more than the "
        f"{budget} documented in docs/architecture.md: {sorted(kernels)}"
    )


def test_compiled_kernels_counts_every_signature(monkeypatch):
    """The accounting sees a kernel of a fasthmm module and its signatures."""
    import types

    from numba import njit

    from fasthmm import _compile

    module = types.ModuleType("fasthmm._probe")
    exec("def probe(x):\n    return x + 1\n", module.__dict__)
    module.probe = njit(module.probe)
    monkeypatch.setitem(sys.modules, "fasthmm._probe", module)
    assert "fasthmm._probe.probe" not in _compile.compiled_kernels()
    module.probe(1)
    assert _compile.compiled_kernels()["fasthmm._probe.probe"] == 1
    module.probe(1.5)
    assert _compile.compiled_kernels()["fasthmm._probe.probe"] == 2


def test_fasthmm_compile_runs_every_route_and_covers_the_first_hour(capsys):
    """``fasthmm compile`` succeeds and compiles (or loads) a superset of the
    first-hour kernels, the parallel forms and the long-sequence route."""
    from fasthmm import _compile
    from fasthmm.cli import main

    assert main(["compile", "-q"]) == 0
    assert "kernels compiled or loaded" in capsys.readouterr().out
    held = _compile.compiled_kernels()
    assert set(_first_hour_kernels()) <= set(held)
    for kernel in ("moments.weighted_first", "direct.two_way_sequence"):
        assert f"fasthmm._kernels.{kernel}" in held
