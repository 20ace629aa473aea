"""fasthmm against other HMM libraries: ``python -m benchmarks --peers``.

Each library runs in a worker process of its own (fasthmm too), so that
their thread pools, JIT caches and memory do not interfere; every worker runs
with the same number of threads (fasthmm's Numba threads, torch's intra-op
threads; hmmkay's kernels are serial; JAX keeps its own pool over every CPU,
or one thread when fasthmm runs on one). The
data of each workload are written once as ``.npy`` files to a temporary
folder, from which every worker builds its own model with the same
parameters. For each operation both workers make one untimed call (JIT
compilation); the answers are checked against fasthmm's before any timing;
then each makes one more untimed call (warm-up, and the size of its blocks),
and the two are timed in whole blocks of calls in the order fasthmm, peer,
peer, fasthmm (:data:`BLOCK_ORDER`), each call timed inside its worker.

Blocks rather than one call each in turn: a library's thread pool may keep
spinning for a while after a call (OpenBLAS, JAX, torch), which slowed the
other library's next call when the two alternated call by call on the same
cores. Within a block, a library only follows itself. Beside each figure the
report gives the CPU time other processes used while that library's blocks
ran (:class:`benchmarks.machine.LoadMonitor`, the workers' own CPU time
excluded).

A peer is a module ``benchmarks/peers/<name>.py`` that imports its library
(an ImportError means "not installed") and defines ``VERSION`` and

* ``prepare(kind, params, X, lengths) -> model``: the model of kind
  ``"gaussian-diag"`` or ``"categorical"`` holding the hmmlearn-style
  ``params`` (``startprob_``, ``transmat_``, ``means_``/``covars_`` or
  ``emissionprob_``), and the data in the library's own format (untimed);
* ``call(model, op) -> (run, setup)``: ``run()`` performs the operation
  (``score``, ``decode``, ``posteriors`` or ``em``: one EM iteration from
  ``params``) and waits for its result; ``setup`` (or None) is called
  untimed before each ``run``;
* ``answer(op, out)``: ``run()``'s output in NumPy: the total log-likelihood,
  the state path (n_samples,), the posteriors (n_samples, K), or
  ``startprob_`` and ``transmat_`` after the EM iteration.

``prepare`` and ``call`` raise NotImplementedError, with the reason, for
what the library lacks, and MemoryError for what would not fit. An optional
``set_threads(n) -> str`` puts the library on ``n`` threads and says what it
did (printed in the report).
"""

from __future__ import annotations

import importlib
import math
import multiprocessing
import os
import statistics
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path

import numpy as np

# peer module -> the package it needs
PEERS = {"dynamax": "dynamax", "pomegranate": "pomegranate", "hmmkay": "hmmkay"}
#: Peers of the cold-start table only (``--peers --cold``): hmmlearn compiles
#: nothing, but is the start-up users know; the model tables time it warm.
COLD_ONLY = {"hmmlearn": "hmmlearn"}
OPERATIONS = ("score", "decode", "posteriors", "em")
OP_TITLES = {"score": "score", "decode": "Viterbi", "posteriors": "posteriors"}
OP_TITLES["em"] = "EM iteration"
# (kind, K, sequences, steps); --quick: 10 sequences, one of 10,000 steps
WORKLOADS = (
    ("gaussian-diag", 4, 100, 1000),
    ("gaussian-diag", 16, 100, 1000),
    ("gaussian-diag", 64, 100, 1000),
    ("categorical", 4, 100, 1000),
    ("gaussian-diag", 16, 1, 100_000),
)
TOLERANCE = 1e-6  # relative for log-probabilities, absolute for probabilities
#: The order of the timed blocks of calls (A B B A: each library's blocks
#: straddle the other's, so a slow drift of the machine affects both alike).
BLOCK_ORDER = ("fasthmm", "peer", "peer", "fasthmm")
#: XLA's flags for one CPU thread (set in the workers when fasthmm runs on one).
ONE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
SLOW_S = 2.0  # a call this slow is timed once per block
MAX_BLOCK = 50  # most calls in one block


def _sizes(quick, workloads=None):
    for kind, k, n_seq, n_steps in WORKLOADS if workloads is None else workloads:
        if quick:
            n_seq, n_steps = (1, 10_000) if n_seq == 1 else (10, n_steps)
        yield kind, k, n_seq, n_steps


def _label(kind, k, n_seq, n_steps):
    model = "Gaussian diag D=8" if kind == "gaussian-diag" else "Categorical 32"
    return f"{model} K={k}, {n_seq} x {n_steps:,}"


# --- the worker process ------------------------------------------------------


def peer_module(name):
    """The peer module ``name``: one of this package's, or any importable
    module when ``name`` is a dotted or top-level module path of its own."""
    if name in PEERS or name in COLD_ONLY or name == "fasthmm":
        return importlib.import_module(f"{__name__}.{name}")
    return importlib.import_module(name)


def set_threads(peer, threads):
    """Run the peer (and Numba, when loaded) on ``threads`` threads; returns
    what the peer says it did (its ``set_threads``), or None."""
    import sys

    if "numba" in sys.modules:
        sys.modules["numba"].set_num_threads(threads)
    setter = getattr(peer, "set_threads", None)
    return setter(threads) if setter is not None else None


class Handler:
    """Answers the driver's requests with one peer module (in a worker
    process, or in this process in the tests).

    Requests: ``("load", folder, kind)``; ``("first", op)``: one call, its
    time and its answer; ``("block", op, n)``: ``n`` calls in a row, their
    times.
    """

    def __init__(self, peer):
        self.peer, self.model, self.calls = peer, None, {}

    def _timed(self, op):
        if op not in self.calls:
            self.calls[op] = self.peer.call(self.model, op)
        run, setup = self.calls[op]
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        out = run()
        return time.perf_counter() - t0, out

    def handle(self, request, *args):
        try:
            if request == "load":  # (folder, kind)
                folder, kind = Path(args[0]), args[1]
                X, lengths = (np.load(folder / f"{n}.npy") for n in ("X", "lengths"))
                params = {p.stem: np.load(p) for p in folder.glob("*_.npy")}
                self.model, self.calls = self.peer.prepare(kind, params, X, lengths), {}
                return ("ok",)
            if request == "first":
                seconds, out = self._timed(args[0])
                return ("ok", seconds, self.peer.answer(args[0], out))
            if request == "block":
                op, n = args
                return ("ok", [self._timed(op)[0] for _ in range(n)])
            return ("error", f"unknown request {request!r}")
        except NotImplementedError as e:
            return ("lacks", str(e))
        except MemoryError as e:
            return ("skipped", str(e))
        except Exception as e:  # reported in the table, the run goes on
            return ("error", f"{type(e).__name__}: {e}")


def _serve(name, threads, conn):
    """A worker: answers the driver's requests with the peer module ``name``."""
    if threads == 1:  # JAX reads this once, when it loads
        os.environ.setdefault("XLA_FLAGS", ONE_THREAD_XLA)
    try:
        peer = peer_module(name)
    except ImportError as e:
        conn.send(("missing", str(e), None))
        return
    conn.send(("ready", peer.VERSION, set_threads(peer, threads)))
    handler = Handler(peer)
    while True:
        request, *args = conn.recv()
        if request == "stop":
            return
        conn.send(handler.handle(request, *args))


class Worker:
    """A peer's worker process on ``threads`` threads; ``ask`` sends a request
    and returns the reply; ``pid`` is its process id."""

    def __init__(self, name, threads):
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(name, threads, child), daemon=True)
        self.proc.start()
        self.pid = self.proc.pid
        status, self.version, self.threads = self.conn.recv()
        self.missing = status == "missing"

    def ask(self, *request):
        self.conn.send(request)
        return self.conn.recv()

    def close(self):
        if self.proc.is_alive() and not self.missing:
            self.conn.send(("stop",))
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)


# --- checking the answers --------------------------------------------------------


def _path_logprob(data, path):
    """log p(path, X) summed over the sequences, in plain NumPy."""
    le = data.spec.log_emissions(data.X, data.params)
    log_start = np.log(data.params["startprob_"])
    log_trans = np.log(data.params["transmat_"])
    total = le[np.arange(len(path)), path].sum()
    first = np.concatenate([[0], np.cumsum(data.lengths)[:-1]])
    total += log_start[path[first]].sum()
    inner = np.ones(len(path), dtype=bool)
    inner[first] = False
    return total + log_trans[path[:-1][inner[1:]], path[1:][inner[1:]]].sum()


def discrepancy(op, out, ref, data):
    """How far a peer's answer is from fasthmm's: relative for log-likelihoods
    and for the log-probability of the Viterbi paths (ties may give other
    paths of equal probability), absolute for posteriors and for startprob_
    and transmat_ after one EM iteration (emission M-steps differ by design
    between libraries: priors, variance floors)."""

    def rel(a, b):
        return abs(a - b) / max(1.0, abs(b))

    if op == "score":
        return rel(out, ref)
    if op == "decode":
        path = np.asarray(out, dtype=np.int64)
        return rel(_path_logprob(data, path), _path_logprob(data, ref))
    if op == "posteriors":
        return float(np.max(np.abs(out - ref)))
    return max(float(np.max(np.abs(out[n] - ref[n]))) for n in ref)


# --- the driver --------------------------------------------------------------------


def _write(folder, data):
    folder.mkdir()
    np.save(folder / "X.npy", data.X)
    np.save(folder / "lengths.npy", data.lengths)
    for name, value in data.params.items():
        np.save(folder / f"{name}.npy", value)


def block_size(warm_s, repeat, min_total):
    """Calls per timed block of a library whose warm-up call took ``warm_s``.

    Each library is timed in ``BLOCK_ORDER.count(lib)`` (two) blocks: enough
    calls for ``repeat`` in all and, for fast calls, about ``min_total``
    seconds in all (at most :data:`MAX_BLOCK` per block); a call of
    :data:`SLOW_S` or more once per block.
    """
    per_lib = BLOCK_ORDER.count("fasthmm")
    if warm_s >= SLOW_S:
        return 1
    n = max(-(-repeat // per_lib), math.ceil(min_total / per_lib / max(warm_s, 1e-6)))
    return min(n, MAX_BLOCK)


def _time_cell(workers, op, repeat, min_total, own_pids=()):
    """Time both libraries in whole blocks (``BLOCK_ORDER``).

    Parameters
    ----------
    workers : dict
        ``{"fasthmm": worker, "peer": worker}``, each with ``ask``.

    Returns
    -------
    times : dict
        Per library, every call's time in seconds.
    other : dict
        Per library, CPUs used by other processes while its blocks ran (None
        where the machine does not say).
    """
    from ..machine import LoadMonitor

    sizes = {}
    for lib, w in workers.items():
        status, *reply = w.ask("block", op, 1)  # warm-up, untimed
        if status != "ok":
            raise RuntimeError(f"{lib}: {op} failed after a good first call: {reply}")
        sizes[lib] = block_size(reply[0][0], repeat, min_total)
    times = {lib: [] for lib in workers}
    other_s, wall = {lib: 0.0 for lib in workers}, {lib: 0.0 for lib in workers}
    known = True
    for lib in BLOCK_ORDER:
        monitor = LoadMonitor(own_pids)
        status, *reply = workers[lib].ask("block", op, sizes[lib])
        load = monitor.stop()
        if status != "ok":
            raise RuntimeError(
                f"{lib}: timed {op} failed after a good first call: {reply}"
            )
        times[lib] += reply[0]
        if load is None:
            known = False
        else:
            other_s[lib] += load["other_load"] * load["wall_s"]
            wall[lib] += load["wall_s"]
    other = {
        lib: (other_s[lib] / wall[lib] if known and wall[lib] else None)
        for lib in workers
    }
    return times, other


def _cell(fast, peer, op, data, repeat, min_total, own_pids=()):
    """One operation of one workload: a JSON-ready dict."""
    first = peer.ask("first", op)
    if first[0] != "ok":
        return {"operation": op, "status": first[0], "why": f"{first[0]}: {first[1]}"}
    status, *reply = fast.ask("first", op)
    if status != "ok":
        raise RuntimeError(f"fasthmm failed on {op}: {reply}")
    ref = reply[1]
    off = discrepancy(op, first[2], ref, data)
    cell = {
        "operation": op,
        "status": "ok" if off <= TOLERANCE else "differs",
        "discrepancy": off,
        "first_s": first[1],
    }
    if cell["status"] == "ok":
        workers = {"fasthmm": fast, "peer": peer}
        times, other = _time_cell(workers, op, repeat, min_total, own_pids)
        cell |= {
            "fasthmm_s": statistics.median(times["fasthmm"]),
            "peer_s": statistics.median(times["peer"]),
            "n_runs": len(times["peer"]),
            "fasthmm_runs": len(times["fasthmm"]),
            "other_load": other,
        }
    return cell | {"loadavg": os.getloadavg()[0]}


def run(quick=False, repeat=5, min_total=1.0, log=print, peers=None, workloads=None):
    """Every installed peer against fasthmm; a JSON-ready dict.

    ``peers`` (peer module -> package it needs, or None to just try the
    import) and ``workloads`` ((kind, K, sequences, steps) tuples) default to
    :data:`PEERS` and :data:`WORKLOADS`.
    """
    import numba

    from ..data import model_data

    peers = PEERS if peers is None else peers
    threads = numba.get_num_threads()
    result = {"tolerance": TOLERANCE, "threads": threads, "peers": []}
    with tempfile.TemporaryDirectory(prefix="fasthmm-peers-") as tmp:
        cases = []
        for i, (kind, k, n_seq, n_steps) in enumerate(_sizes(quick, workloads)):
            data = model_data(kind, k, n_seq, n_steps)
            _write(Path(tmp) / str(i), data)
            cases.append((_label(kind, k, n_seq, n_steps), kind, data))
        fast = Worker("fasthmm", threads)
        try:
            result["fasthmm"] = fast.version
            for name, package in peers.items():
                entry = {"name": name, "version": None, "workloads": []}
                result["peers"].append(entry)
                if package is not None and find_spec(package) is None:
                    log(f"[peers] {name} is not installed: skipped")
                    continue
                log(f"[peers] {name}: starting its worker")
                peer = Worker(name, threads)
                try:
                    if peer.missing:
                        log(f"[peers] {name} cannot be imported: {peer.version}")
                        continue
                    entry["version"], entry["threads"] = peer.version, peer.threads
                    own = (fast.pid, peer.pid)
                    for i, (label, kind, data) in enumerate(cases):
                        folder = str(Path(tmp) / str(i))
                        row = {"label": label, "cells": []}
                        entry["workloads"].append(row)
                        loaded = peer.ask("load", folder, kind)
                        if loaded[0] != "ok":
                            row["why"] = f"{loaded[0]}: {loaded[1]}"
                            continue
                        if fast.ask("load", folder, kind)[0] != "ok":
                            raise RuntimeError(f"fasthmm could not load {label}")
                        for op in OPERATIONS:
                            log(f"[peers] {name}: {label}: {op}")
                            cell = _cell(fast, peer, op, data, repeat, min_total, own)
                            row["cells"].append(cell)
                finally:
                    peer.close()
        finally:
            fast.close()
    return result


# --- the report ----------------------------------------------------------------------


def lines(result):
    from ..report import ms, ratio, table

    out = [
        "",
        f"== peers: each library in its own process against {result['fasthmm']} "
        f"in another, on the same data, {result.get('threads', '?')} threads each; "
        "timed in blocks of calls in the order fasthmm, peer, peer, fasthmm "
        "(median of all calls); ratio = peer time / fasthmm time, above 1 = "
        "fasthmm faster",
    ]
    summary, notes = [], []
    for entry in result["peers"]:
        name = entry["name"]
        if entry["version"] is None:
            out += ["", f"{name}: not installed (pip install -e '.[peers]'), skipped"]
            continue
        rows = []
        for w in entry["workloads"]:
            for c in w["cells"] or [{"operation": None, "status": "lacks"}]:
                row = [w["label"], OP_TITLES.get(c["operation"], "-")]
                if c["status"] != "ok":
                    why = c.get("why") or w.get("why")
                    if c["status"] == "differs":
                        off = c["discrepancy"]
                        why = (
                            "answer has NaN"
                            if off != off
                            else f"answer off by {off:.1e}"
                        )
                        why += ": not timed"
                    rows.append(row + ["-"] * 7 + [why])
                    continue
                rows.append(
                    row
                    + [
                        ms(c["fasthmm_s"]),
                        ms(c["peer_s"]),
                        ratio(c["peer_s"] / c["fasthmm_s"]),
                        f"{c['discrepancy']:.0e}",
                        f"{c['first_s']:.2f}",
                        _other(c),
                        f"{c['loadavg']:.2f}",
                        "",
                    ]
                )
        header = ["workload", "operation", "fasthmm ms", f"{name} ms", "ratio"]
        header += ["check", "first call s", "other CPUs", "load avg", "note"]
        threads = entry.get("threads")
        out += ["", entry["version"] + (f"; {threads}" if threads else "")]
        out += table(header, rows, "<<>>>>>>><")
        summary.append((name, entry))
    if summary:
        out += ["", "== peer time / fasthmm time: score / Viterbi / posteriors / EM"]
        labels = [
            w
            for w in dict.fromkeys(
                w["label"] for _, e in summary for w in e["workloads"]
            )
        ]
        rows = []
        for label in labels:
            row = [label]
            for _, e in summary:
                w = next((w for w in e["workloads"] if w["label"] == label), None)
                cells = {c["operation"]: c for c in (w or {}).get("cells", [])}
                row.append(" / ".join(_ratio(cells.get(op)) for op in OPERATIONS))
            rows.append(row)
        out += table(["workload", *(n for n, _ in summary)], rows)
        notes.append(
            "-: the library lacks the operation or the model, or it was skipped "
            "(see its table); ?: its answer differed from fasthmm's"
        )
    return (
        out
        + notes
        + [
            f"check: the answer's distance from fasthmm's, checked before timing "
            f"(tolerance {result['tolerance']:g}): relative for the log-likelihood and "
            "for the log-probability of the Viterbi paths, absolute for posteriors and "
            "for startprob_/transmat_ after one EM iteration; first call s: the "
            "peer's untimed first call (JIT compilation included); other CPUs: "
            "CPUs used by other processes while fasthmm's / the peer's blocks were "
            "timed (the two workers' own use excluded; near 0 on a quiet machine, "
            "figures taken above about 0.3 are not reliable); load avg: "
            "os.getloadavg() 1-minute average right after the row (it lags; compare "
            "with the number of logical CPUs)",
        ]
    )


def _other(cell):
    """'fasthmm / peer' CPUs used by other processes during the timed blocks."""
    other = cell.get("other_load") or {}
    values = [other.get(lib) for lib in ("fasthmm", "peer")]
    if any(v is None for v in values):
        return "-"
    return " / ".join(f"{v:.2f}" for v in values)


def _ratio(cell):
    if cell is None or cell["status"] not in ("ok", "differs"):
        return "-"
    if cell["status"] == "differs":
        return "?"
    from ..report import ratio

    return ratio(cell["peer_s"] / cell["fasthmm_s"])
