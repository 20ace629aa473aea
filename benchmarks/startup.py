"""Start-up cost: the first-hour script in fresh processes, cold and warm.

``python -m benchmarks --startup`` runs, each in its own process:

* fasthmm's first-hour script (:func:`fasthmm._compile.first_hour`: a
  GaussianHMM fit, score, decode, predict_proba, filter_proba, then a
  CategoricalHMM fit, score, decode) with a new, empty ``NUMBA_CACHE_DIR``
  (*cold*: every kernel compiles), then again on that cache (*warm*: every
  kernel loads);
* the same script with hmmlearn (when installed);
* the machine's yardstick (:mod:`benchmarks.yardstick`): a plain set of
  kernels written without fasthmm's machinery, compiled cold.

Each child times the whole process from the parent (interpreter start-up
included), its imports and each call, and records every compilation Numba
makes (``numba:compile`` events): the time of each kernel alone, without
the kernels it compiled on the way (its callees), so that the times add up.

``python -m benchmarks.startup fasthmm|hmmlearn|yardstick`` is one child (it
prints one JSON line).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class CompileTimes:
    """Self time of every Numba compilation in this process, by kernel."""

    def __init__(self):
        from numba.core import event

        self.seconds, self._stack = {}, []
        listener = self

        class _Listener(event.Listener):
            def on_start(self, ev):
                listener._stack.append([time.perf_counter(), 0.0])

            def on_end(self, ev):
                start, children = listener._stack.pop()
                total = time.perf_counter() - start
                d = ev.data["dispatcher"]
                name = f"{d.py_func.__module__}.{d.py_func.__qualname__}"
                self_time = total - children
                listener.seconds[name] = listener.seconds.get(name, 0.0) + self_time
                if listener._stack:
                    listener._stack[-1][1] += total

        event.register("numba:compile", _Listener())


def _fasthmm_child():
    t0 = time.perf_counter()
    compiles = CompileTimes()
    import fasthmm
    from fasthmm import _compile

    t1 = time.perf_counter()
    calls = _compile.first_hour()
    return {
        "import_s": t1 - t0,
        "calls_s": calls,
        "compile_s": compiles.seconds,
        "kernels": _compile.compiled_kernels(),
        "version": fasthmm.__version__,
    }


def _hmmlearn_child():
    t0 = time.perf_counter()
    import numpy as np
    from hmmlearn import hmm

    t1 = time.perf_counter()
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(m, 1.0, size=(60, 2)) for m in (-3, 0, 3)])
    lengths = [90, 90]
    symbols = rng.integers(0, 4, size=(180, 1))
    calls = {}

    def timed(name, fn, *args):
        t = time.perf_counter()
        fn(*args)
        calls[name] = time.perf_counter() - t

    g = hmm.GaussianHMM(3, n_iter=5, random_state=0)
    timed("GaussianHMM.fit", g.fit, X, lengths)
    timed("GaussianHMM.score", g.score, X, lengths)
    timed("GaussianHMM.decode", g.decode, X, lengths)
    timed("GaussianHMM.predict_proba", g.predict_proba, X, lengths)
    # hmmlearn has no filtered probabilities: no filter_proba call.
    c = hmm.CategoricalHMM(3, n_iter=5, random_state=0)
    timed("CategoricalHMM.fit", c.fit, symbols, lengths)
    timed("CategoricalHMM.score", c.score, symbols, lengths)
    timed("CategoricalHMM.decode", c.decode, symbols, lengths)
    return {"import_s": t1 - t0, "calls_s": calls}


def _yardstick_child():
    t0 = time.perf_counter()
    compiles = CompileTimes()
    from . import yardstick

    t1 = time.perf_counter()
    calls = yardstick.run_once()
    return {"import_s": t1 - t0, "calls_s": calls, "compile_s": compiles.seconds}


def _compile_all_child():
    t0 = time.perf_counter()
    compiles = CompileTimes()
    from fasthmm import _compile

    failed = _compile.compile_all()
    return {
        "process_body_s": time.perf_counter() - t0,
        "compile_s": compiles.seconds,
        "kernels": _compile.compiled_kernels(),
        "failed": failed,
    }


CHILDREN = {
    "compile": _compile_all_child,
    "fasthmm": _fasthmm_child,
    "hmmlearn": _hmmlearn_child,
    "yardstick": _yardstick_child,
}


def _bytecode_env():
    """Python's bytecode where an installed package has it (beside the
    sources), written when missing."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPYCACHEPREFIX", None)
    return env


def _child_env(cache_dir):
    """The children's environment: their own Numba cache, this checkout first."""
    env = dict(_bytecode_env(), NUMBA_CACHE_DIR=str(cache_dir))
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH")) if p
    )
    return env


def _compile_bytecode():
    """Byte-compile fasthmm and benchmarks, as ``pip install`` does: otherwise
    a checkout would time Python compiling fasthmm's sources in the first
    child. The bytecode of NumPy, Numba and the other installed packages is
    used where it is (a separate bytecode folder would make the first child
    compile theirs, and count it as its own time)."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "fasthmm", "benchmarks"],
        cwd=ROOT,
        env=_bytecode_env(),
        check=True,
        capture_output=True,
    )


def _run_child(kind, cache_dir):
    env = _child_env(cache_dir)
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.startup", kind],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t
    if proc.returncode:
        raise RuntimeError(f"{kind} child failed:\n{proc.stderr}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_s"] = wall
    return out


def _hmmlearn_installed():
    import importlib.util

    return importlib.util.find_spec("hmmlearn") is not None


def run(log, ahead=True):
    """Cold and warm first-hour script, hmmlearn, the yardstick; with
    ``ahead``, also ``python -m fasthmm compile`` into an empty cache and
    the script after it."""
    from .machine import LoadMonitor

    monitor = LoadMonitor()
    out = {"loadavg_before": os.getloadavg()}
    cache = Path(tempfile.mkdtemp(prefix="fasthmm-startup-"))
    try:
        _compile_bytecode()
        log("yardstick: plain kernels, cold ...")
        out["yardstick"] = _run_child("yardstick", cache / "yardstick")
        log("fasthmm first-hour script, cold (empty cache) ...")
        out["cold"] = _run_child("fasthmm", cache / "fasthmm")
        log("fasthmm first-hour script, warm ...")
        out["warm"] = _run_child("fasthmm", cache / "fasthmm")
        if ahead:
            log("python -m fasthmm compile into an empty cache, then the script ...")
            out["compile_all"] = _run_child("compile", cache / "ahead")
            out["after_compile"] = _run_child("fasthmm", cache / "ahead")
        if _hmmlearn_installed():
            log("hmmlearn, same script ...")
            out["hmmlearn"] = _run_child("hmmlearn", cache / "hmmlearn")
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    out["load"] = monitor.stop()
    out["loadavg_after"] = os.getloadavg()
    return out


def _calls_total(run):
    return sum(run["calls_s"].values())


def lines(s):
    """The report's section for a :func:`run` result."""
    cold, warm, yard = s["cold"], s["warm"], s["yardstick"]
    hml = s.get("hmmlearn")
    yard_compile = sum(yard["compile_s"].values())
    cold_compile = sum(cold["compile_s"].values())
    out = [
        "",
        "== Start-up: the first-hour script in fresh processes (seconds; "
        "process = interpreter start-up to exit, as timed by the parent)",
        f"{'':<28}{'process':>9}{'import':>9}{'calls':>9}{'compile':>9}",
    ]
    rows = [("fasthmm, empty cache", cold), ("fasthmm, warm cache", warm)]
    if hml:
        rows.append(("hmmlearn", hml))
    rows.append(("yardstick (plain kernels)", yard))
    for label, r in rows:
        comp = sum(r.get("compile_s", {}).values()) if "compile_s" in r else None
        comp_s = f"{comp:>9.2f}" if comp is not None else f"{'-':>9}"
        out.append(
            f"{label:<28}{r['process_s']:>9.2f}{r['import_s']:>9.2f}"
            f"{_calls_total(r):>9.2f}{comp_s}"
        )
    out.append(
        f"cold compile / yardstick compile: {cold_compile / yard_compile:.2f}x; "
        f"kernels compiled: {len(cold['kernels'])}, "
        f"most signatures of one kernel: {max(cold['kernels'].values(), default=0)}"
    )
    ahead = s.get("compile_all")
    if ahead:
        after = s["after_compile"]
        out.append(
            f"python -m fasthmm compile (every route, empty cache): "
            f"{ahead['process_s']:.1f} s, {len(ahead['kernels'])} kernels"
            f"{', FAILED: ' + ', '.join(ahead['failed']) if ahead['failed'] else ''}; "
            f"then the script in a new process: {after['process_s']:.2f} s, "
            f"compiling {len(after['compile_s'])} kernels"
        )
    out += ["", "first calls (s)", f"{'call':<28}{'cold':>9}{'warm':>9}{'hmmlearn':>9}"]
    for name, v in cold["calls_s"].items():
        h = hml["calls_s"].get(name) if hml else None
        h_s = f"{h:>9.3f}" if h is not None else f"{'-':>9}"
        out.append(f"{name:<28}{v:>9.2f}{warm['calls_s'][name]:>9.3f}{h_s}")
    out += ["", "compile time per kernel, cold (s, without its callees)"]
    for name, v in sorted(cold["compile_s"].items(), key=lambda kv: -kv[1]):
        out.append(f"  {v:7.2f}  {name.removeprefix('fasthmm.')}")
    out += ["", "yardstick compile time per kernel (s)"]
    for name, v in sorted(yard["compile_s"].items(), key=lambda kv: -kv[1]):
        out.append(f"  {v:7.2f}  {name.removeprefix('benchmarks.')}")
    load = s.get("load") or {}
    if load:
        out.append(
            "load average during the run: "
            + ", ".join(f"{k} {v}" for k, v in load.items() if not isinstance(v, list))
        )
    return out


if __name__ == "__main__":
    print(json.dumps(CHILDREN[sys.argv[1]]()))
