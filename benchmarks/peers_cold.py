"""Cold start against the other libraries: ``python -m benchmarks --peers --cold``.

What a user waits for the first time each call runs in a new process, for
fasthmm and for every other library installed (the ``--peers`` adapters,
and hmmlearn), on one workload (Gaussian diag D=8 K=4, 100 x 1000; 10 x 1000
with ``--quick``). Each library runs in a fresh process per round; the
rounds (2 by default, 1 with ``--quick``) run the libraries in turn, in
reverse order every other round, so that a drift of the machine's load hits
them alike. In each process:

* *import+prepare*: from the process's first line (after the interpreter
  started; NumPy's import included) to the model ready: the library's
  import and the adapter's ``prepare``;
* the first score, Viterbi, posteriors and EM iteration, one after the
  other, each with the adapter's ``call`` and set-up included (what a user
  runs), in CPU seconds (``time.process_time``: user + system of all the
  process's threads) and wall seconds;
* *process*: the whole process as its parent sees it, interpreter start-up
  to exit (CPU from ``getrusage`` of the ended child, wall from the parent's
  clock).

fasthmm runs with a new, empty ``NUMBA_CACHE_DIR`` in every round (*cold*:
every kernel compiles), then once on the cache the last cold run left
(*warm*: the kernels load). The other libraries get an empty
``NUMBA_CACHE_DIR`` too (hmmkay compiles Numba kernels; JAX keeps no
compilation cache on disk unless told to). Every answer is checked against
fasthmm's warm answers with the distances and tolerance of ``--peers``
(:func:`benchmarks.peers.discrepancy`), so a wrong answer cannot hide behind
a fast start. In every round the machine's yardstick
(:mod:`benchmarks.yardstick`: plain Numba kernels) also compiles cold in a
fresh process: how fast Numba compiles on this machine at that moment.

Before the rounds each library is imported once in a throwaway process
(untimed), so that its bytecode is written and its files are in the page
cache, as on a machine where it was installed and used before. The processes
do not load hmmlearn unless they time it (the model tables' module, which
fasthmm's adapter uses, imports it when it is installed).

``python -m benchmarks.peers_cold child NAME FOLDER KIND THREADS ANSWERS`` is
one process (it prints one JSON line); ``... yardstick`` the yardstick's,
``... prime NAME`` the untimed import.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKLOAD = ("gaussian-diag", 4, 100, 1000)
REFERENCE = "fasthmm"
YARDSTICK = "yardstick"


# --- the child processes ---------------------------------------------------------------


def _since(cpu, wall):
    return {"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall}


def _compile_clock():
    """Numba's compile time from now on (None when Numba is not loaded)."""
    if "numba" not in sys.modules:
        return None
    from .startup import CompileTimes

    return CompileTimes()


def _save_answers(path, answers):
    import numpy as np

    flat = {}
    for op, value in answers.items():
        items = value.items() if isinstance(value, dict) else [(None, value)]
        for name, v in items:
            flat[op if name is None else f"{op}.{name}"] = np.asarray(v)
    np.savez(path, **flat)


def load_answers(path):
    """The answers a child saved: ``{op: float, array or dict of arrays}``."""
    import numpy as np

    out = {}
    with np.load(path) as f:
        for key in f.files:
            op, _, name = key.partition(".")
            if name:
                out.setdefault(op, {})[name] = f[key]
            else:
                out[op] = float(f[key]) if f[key].ndim == 0 else f[key]
    return out


def _first_calls(peer, model, answers_path):
    """Each operation's first call, timed; the answers saved to ``answers_path``."""
    from .peers import OPERATIONS

    calls, answers = {}, {}
    for op in OPERATIONS:
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            run, setup = peer.call(model, op)
            if setup is not None:
                setup()
            out = run()
        except NotImplementedError as e:
            calls[op] = {"status": "lacks", "why": str(e)}
            continue
        except MemoryError as e:
            calls[op] = {"status": "skipped", "why": str(e)}
            continue
        except Exception as e:  # reported in the table, the run goes on
            calls[op] = {"status": "error", "why": f"{type(e).__name__}: {e}"}
            continue
        calls[op] = {"status": "ok", **_since(cpu, wall)}
        answers[op] = peer.answer(op, out)
    _save_answers(answers_path, answers)
    return calls


def _child(name, folder, kind, threads, answers_path):
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if name != "hmmlearn":  # only the model tables' module would import it
        sys.modules["hmmlearn"] = None
    cache = os.environ.get("NUMBA_CACHE_DIR")
    files = sum(len(f) for _, _, f in os.walk(cache)) if cache else None
    from .peers import Handler, peer_module, set_threads

    try:
        peer = peer_module(name)
    except ImportError as e:
        return {"status": "missing", "why": str(e)}
    out = {"status": "ok", "version": peer.VERSION, "cache_files_before": files}
    out["threads"] = set_threads(peer, int(threads))
    handler = Handler(peer)
    loaded = handler.handle("load", folder, kind)
    if loaded[0] != "ok":
        return out | {"status": loaded[0], "why": loaded[1]}
    out["import_prepare"] = _since(cpu0, wall0)
    compiles = _compile_clock()
    calls = _first_calls(peer, handler.model, answers_path)
    out["calls"] = calls
    done = [c for c in calls.values() if c["status"] == "ok"]
    out["first_calls"] = {k: sum(c[k] for c in done) for k in ("cpu_s", "wall_s")}
    out["first_calls"]["n"] = len(done)
    if compiles is not None:
        out["compile_s"] = compiles.seconds
    return out


def _yardstick_child():
    cpu0, wall0 = time.process_time(), time.perf_counter()
    from .startup import CompileTimes

    compiles = CompileTimes()  # imports Numba
    import numba

    from . import yardstick

    out = {"status": "ok", "version": f"Numba {numba.__version__}"}
    out["import_prepare"] = _since(cpu0, wall0)
    cpu, wall = time.process_time(), time.perf_counter()
    kernels = yardstick.run_once()
    out["first_calls"] = _since(cpu, wall) | {"n": len(kernels)}
    out["calls"], out["compile_s"] = {}, compiles.seconds
    return out


def _prime(name):
    """Import the adapter (bytecode written, files read), or nothing if absent."""
    from .peers import peer_module

    try:
        peer_module(name)
    except ImportError:
        pass
    return {"status": "ok"}


# --- the parent ------------------------------------------------------------------------


def _env(cache, threads):
    """A child's environment: its own Numba cache, this checkout first on the
    path, bytecode written (as an installed package has it)."""
    from .peers import ONE_THREAD_XLA

    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH")) if p
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if threads == 1:  # as the --peers workers: JAX on one thread too
        env.setdefault("XLA_FLAGS", ONE_THREAD_XLA)
    return env


def _children_cpu():
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _process(args, env):
    """Run one child; its JSON line, with the whole process's CPU and wall
    seconds and the CPUs other processes used meanwhile."""
    import subprocess

    from .machine import LoadMonitor

    cpu, monitor = _children_cpu(), LoadMonitor()
    wall = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.peers_cold", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - wall
    load = monitor.stop()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stderr[-4000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process"] = {"cpu_s": _children_cpu() - cpu, "wall_s": wall}
    out["other_load"] = None if load is None else load["other_load"]
    return out


def _check(row, ref, data):
    """Each answer's distance from fasthmm's warm answer, in ``row["calls"]``."""
    from .peers import TOLERANCE, discrepancy

    path = row.pop("answers", None)
    answers = load_answers(path) if row.get("calls") else {}
    for op, call in row.get("calls", {}).items():
        if call["status"] == "ok":
            off = discrepancy(op, answers[op], ref[op], data)
            call["discrepancy"] = off
            call["status"] = "ok" if off <= TOLERANCE else "differs"


def _order(names, rounds):
    """The libraries' order in each round: reversed every other round."""
    return [names if r % 2 == 0 else names[::-1] for r in range(rounds)]


def run(
    quick=False,
    rounds=None,
    log=print,
    peers=None,
    reference=REFERENCE,
    workload=WORKLOAD,
    yardstick=True,
):
    """The cold-start rounds; a JSON-ready dict.

    ``peers`` (peer module -> package it needs, or None to just try the
    import) defaults to every ``--peers`` library and hmmlearn; ``reference``
    is the adapter run cold and warm (fasthmm's); ``workload`` one
    (kind, K, sequences, steps); ``yardstick=False`` leaves it out.
    """
    import shutil
    import tempfile
    from importlib.util import find_spec

    import numba

    from . import peers as pm
    from .data import model_data

    peers = {**pm.PEERS, **pm.COLD_ONLY} if peers is None else peers
    rounds = rounds or (1 if quick else 2)
    threads = numba.get_num_threads()
    kind, k, n_seq, n_steps = next(pm._sizes(quick, [workload]))
    data = model_data(kind, k, n_seq, n_steps)
    names = [n for n, pkg in peers.items() if pkg is None or find_spec(pkg)]
    result = {
        "workload": pm._label(kind, k, n_seq, n_steps),
        "tolerance": pm.TOLERANCE,
        "threads": threads,
        "rounds": rounds,
        "not_installed": [n for n in peers if n not in names],
        "loadavg_before": os.getloadavg(),
        "runs": [],
    }
    tmp = Path(tempfile.mkdtemp(prefix="fasthmm-cold-"))
    try:
        folder = tmp / "data"
        pm._write(folder, data)
        log("[cold] importing each library once, untimed ...")
        for name in [reference, *names]:
            _process(["prime", name], _env(tmp / "prime", threads))

        def child(name, tag, cache):
            log(f"[cold] {name}, {tag} ...")
            answers = tmp / f"{name}-{tag}.npz"
            env = _env(cache, threads)
            if name == YARDSTICK:
                row = _process([YARDSTICK], env)
            else:
                args = [name, str(folder), kind, str(threads), str(answers)]
                row = _process(["child", *args], env)
                row["answers"] = str(answers)
            result["runs"].append(row | {"library": name, "run": tag})
            return row

        order = [reference, *names] + ([YARDSTICK] if yardstick else [])
        cache = None
        for r, names_r in enumerate(_order(order, rounds), 1):
            for name in names_r:
                empty = tmp / f"cache-{name}-{r}"
                empty.mkdir()
                child(name, f"round {r}", empty)
                if name == reference:
                    cache = empty
        warm = child(reference, "warm", cache)
        if warm["status"] != "ok" or any(
            c["status"] != "ok" for c in warm["calls"].values()
        ):
            raise RuntimeError(f"{reference} failed on its warm cache: {warm}")
        ref = load_answers(warm["answers"])
        for row in result["runs"]:
            _check(row, ref, data)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result["loadavg_after"] = os.getloadavg()
    return result


# --- the report ------------------------------------------------------------------------


def _groups(result):
    """``(label, runs)`` per library in the first round's order, fasthmm's
    warm run second."""
    groups = {}
    for row in result["runs"]:
        lib = row["library"]
        if lib == YARDSTICK:
            label = "yardstick (plain Numba kernels, cold)"
        elif row["run"] == "warm":
            label = f"{lib}, warm cache"
        elif lib == result["runs"][0]["library"]:
            label = f"{lib}, empty cache"
        else:
            label = lib
        groups.setdefault(label, []).append(row)
    labels = list(groups)
    warm = [g for g in labels if g.endswith("warm cache")]
    labels = labels[:1] + warm + [g for g in labels[1:] if g not in warm]
    return [(g, groups[g]) for g in labels]


def _median(rows, get):
    values = [v for v in map(get, rows) if v is not None]
    return statistics.median(values) if values else None


def _s(x):
    return "-" if x is None else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def _cells(rows, key):
    """The medians over the runs ``rows`` of each column, in ``key``
    ("cpu_s" or "wall_s"); a call whose answer differed is marked '?'."""
    from .peers import OPERATIONS

    def of(part):
        return _s(_median(rows, lambda r: (r.get(part) or {}).get(key)))

    cells = [of("import_prepare")]
    for op in OPERATIONS:
        calls = [r.get("calls", {}).get(op) or {} for r in rows]
        value = _median(calls, lambda c: c.get(key) if "discrepancy" in c else None)
        differs = any(c.get("status") == "differs" for c in calls)
        cells.append(_s(value) + "?" * differs)
    return cells + [of("first_calls"), of("process")]


def _check_cell(rows):
    offs = [
        c["discrepancy"]
        for r in rows
        for c in r.get("calls", {}).values()
        if "discrepancy" in c
    ]
    if not offs:
        return "-"
    if any(x != x for x in offs):
        return "NaN"
    return f"{max(offs):.0e}"


def _compile_total(rows):
    return _median(
        rows, lambda r: sum(r["compile_s"].values()) if "compile_s" in r else None
    )


def _problems(runs):
    """What was not timed and checked, once per operation and reason."""
    notes = {}
    for r in runs:
        for op, c in r.get("calls", {}).items():
            if c["status"] == "differs":
                notes[op] = f"{op}: answer off by {c['discrepancy']:.1e}"
            elif c["status"] != "ok":
                notes[op] = f"{op}: {c['status']}: {c.get('why', '')}"
    return list(notes.values())


def lines(result):
    from .peers import OP_TITLES, OPERATIONS
    from .report import table

    groups = _groups(result)
    out = [
        "",
        f"== Cold start: first calls in fresh processes, {result['workload']}, "
        f"{result['threads']} threads; {result['rounds']} round(s), the libraries "
        "in turn (reverse order every other round), medians over the rounds; "
        "fasthmm with an empty Numba cache, and once on the cache it left",
    ]
    ok = [(g, runs) for g, runs in groups if runs[0]["status"] == "ok"]
    header = ["library", "import+prepare", *(OP_TITLES[op] for op in OPERATIONS)]
    header += ["4 calls", "process"]
    for key, title in (("cpu_s", "CPU seconds"), ("wall_s", "wall seconds")):
        rows = []
        for g, runs in ok:
            if key == "cpu_s":
                extra = [_check_cell(runs)]
            else:
                extra = [_s(_compile_total(runs))]
                extra.append(_s(_median(runs, lambda r: r.get("other_load"))))
            rows.append([g, *_cells(runs, key), *extra])
        extra = ["check"] if key == "cpu_s" else ["Numba compile", "other CPUs"]
        out += ["", title, *table(header + extra, rows)]
    out.append("")
    for g, runs in groups:
        first = runs[0]
        if first["status"] != "ok":
            out.append(f"{g}: {first['status']}: {first.get('why', '')}")
            continue
        threads = f"; {first['threads']}" if first.get("threads") else ""
        per_run = ", ".join(_s(r["process"]["cpu_s"]) for r in runs)
        problems = _problems(runs)
        out.append(
            f"{g}: {first['version']}{threads}; process CPU s per run: {per_run}"
            + ("; NOT TIMED OR CHECKED: " + "; ".join(problems) if problems else "")
        )
    for name in result.get("not_installed", []):
        out.append(f"{name}: not installed, skipped")
    out += _largest_compiles(groups)
    out += _meaning(groups)
    before, after = result["loadavg_before"][0], result["loadavg_after"][0]
    out.append(
        "import+prepare: the process's first line (NumPy's import included) to "
        "the model ready; each call: its first run, set-up included; 4 calls: "
        "their sum (fewer where the library lacks one; the yardstick: its three "
        "kernels' first calls); process: interpreter "
        "start-up to exit, timed by the parent; CPU: user + system of all "
        "threads; check: "
        "the farthest answer from fasthmm's warm one (tolerance "
        f"{result['tolerance']:g}, as --peers; '?' beside a call beyond it); "
        "Numba compile: wall seconds inside Numba's compiler; other CPUs: used "
        "by other processes while the process ran; load "
        f"average {before:.2f} before, {after:.2f} after"
    )
    return out


def _largest_compiles(groups, n=6):
    """The reference's largest compilations from an empty cache: median wall
    seconds of each kernel alone (without the kernels it compiled on the way)."""
    cold = next((runs for g, runs in groups if g.endswith("empty cache")), [])
    runs = [r for r in cold if "compile_s" in r]
    if not runs:
        return []
    names = {k for r in runs for k in r["compile_s"]}
    med = {k: _median(runs, lambda r, k=k: r["compile_s"].get(k, 0.0)) for k in names}
    top = sorted(med.items(), key=lambda kv: -kv[1])[:n]
    return [
        f"largest compilations from an empty cache ({len(names)} in all; wall s, "
        "each kernel without its callees): "
        + ", ".join(f"{_kernel(k)} {v:.2f}" for k, v in top)
    ]


def _kernel(name):
    """``fasthmm._kernels.direct._make_x.<locals>.x`` -> ``direct.x``."""
    module, _, rest = name.partition("._kernels.")
    if not rest:
        return module
    return f"{rest.split('.')[0]}.{rest.rsplit('.', 1)[-1]}"


def _short(x):
    return f"{x:.2f}" if x < 1 else f"{x:.1f}"


def _meaning(groups):
    """One plain sentence: fasthmm cold against warm, the others and the yardstick."""
    by = {g: runs for g, runs in groups if runs[0]["status"] == "ok"}
    cold = next((runs for g, runs in by.items() if g.endswith("empty cache")), None)
    warm = next((runs for g, runs in by.items() if g.endswith("warm cache")), None)
    if cold is None or warm is None:
        return []

    def cpu(runs, part):
        return _median(runs, lambda r: r[part]["cpu_s"])

    def both(runs):
        return f"{_short(cpu(runs, 'first_calls'))} s ({cpu(runs, 'process'):.1f} s)"

    others = [
        f"{g} {both(runs)}"
        for g, runs in by.items()
        if runs[0]["library"] not in (YARDSTICK, cold[0]["library"])
    ]
    yard = [runs for runs in by.values() if runs[0]["library"] == YARDSTICK]
    floor = (
        f"; Numba compiled the yardstick's plain kernels in "
        f"{_short(cpu(yard[0], 'first_calls'))} s"
        if yard
        else ""
    )
    return [
        "",
        "In short: from an empty cache, fasthmm's four first calls took "
        f"{both(cold)} of CPU (the whole process in brackets), against "
        f"{', '.join(others) or 'no other library installed'}{floor}; on the "
        f"cache they leave they take {both(warm)}, so fill the cache ahead "
        "(`python -m fasthmm compile`) wherever processes start from an empty "
        "one: container images, CI, new workers.",
        "",
    ]


if __name__ == "__main__":
    what, *rest = sys.argv[1:]
    if what == "prime":
        result = _prime(*rest)
    elif what == YARDSTICK:
        result = _yardstick_child()
    else:
        result = _child(*rest)
    print(json.dumps(result))
