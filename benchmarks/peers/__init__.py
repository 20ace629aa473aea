"""fasthmm against other HMM libraries: ``python -m benchmarks --peers``.

Each library runs in a worker process of its own (fasthmm too), so that
their thread pools, JIT caches and memory do not interfere. The data of each
workload are written once as ``.npy`` files to a temporary folder, from which
every worker builds its own model with the same parameters. For each
operation both workers make one untimed call (JIT compilation, warm-up); the
answers are checked against fasthmm's before any timing; then the two are
timed alternately, one call each per round, each call timed inside its
worker.

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
what the library lacks, and MemoryError for what would not fit.
"""

from __future__ import annotations

import importlib
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
SLOW_S, SLOW_REPEAT = 2.0, 3  # a peer call this slow is timed this many times


def _sizes(quick):
    for kind, k, n_seq, n_steps in WORKLOADS:
        if quick:
            n_seq, n_steps = (1, 10_000) if n_seq == 1 else (10, n_steps)
        yield kind, k, n_seq, n_steps


def _label(kind, k, n_seq, n_steps):
    model = "Gaussian diag D=8" if kind == "gaussian-diag" else "Categorical 32"
    return f"{model} K={k}, {n_seq} x {n_steps:,}"


# --- the worker process ------------------------------------------------------


def _serve(name, conn):
    """A worker: answers the driver's requests with the peer module ``name``."""
    try:
        peer = importlib.import_module(f"{__name__}.{name}")
    except ImportError as e:
        conn.send(("missing", str(e)))
        return
    conn.send(("ready", peer.VERSION))
    model, calls = None, {}
    while True:
        request, *args = conn.recv()
        if request == "stop":
            return
        try:
            if request == "load":  # (folder, kind)
                folder, kind = Path(args[0]), args[1]
                X, lengths = (np.load(folder / f"{n}.npy") for n in ("X", "lengths"))
                params = {p.stem: np.load(p) for p in folder.glob("*_.npy")}
                model, calls = peer.prepare(kind, params, X, lengths), {}
                conn.send(("ok",))
                continue
            op = args[0]
            if op not in calls:
                calls[op] = peer.call(model, op)
            run, setup = calls[op]
            if setup is not None:
                setup()
            t0 = time.perf_counter()
            out = run()
            seconds = time.perf_counter() - t0
            reply = peer.answer(op, out) if request == "first" else None
            conn.send(("ok", seconds, reply))
        except NotImplementedError as e:
            conn.send(("lacks", str(e)))
        except MemoryError as e:
            conn.send(("skipped", str(e)))
        except Exception as e:  # reported in the table, the run goes on
            conn.send(("error", f"{type(e).__name__}: {e}"))


class Worker:
    """A peer's worker process; ``ask`` sends a request and returns the reply."""

    def __init__(self, name):
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(name, child), daemon=True)
        self.proc.start()
        status, self.version = self.conn.recv()
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


def _time_cell(fast, peer, op, repeat, min_total):
    """Alternate timed calls; return (fasthmm times, peer times)."""
    times, total, rounds = ([], []), 0.0, 0
    while rounds < repeat or (total < min_total and rounds < 200):
        for w, ts in zip((fast, peer), times):
            status, *reply = w.ask("time", op)
            if status != "ok":
                raise RuntimeError(
                    f"timed {op} failed after a good first call: {reply}"
                )
            ts.append(reply[0])
            total += reply[0]
        rounds += 1
        if rounds == 1 and times[1][0] >= SLOW_S:
            repeat, min_total = min(repeat, SLOW_REPEAT), 0.0
    return times


def _cell(fast, peer, op, data, repeat, min_total):
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
        fast_t, peer_t = _time_cell(fast, peer, op, repeat, min_total)
        cell |= {
            "fasthmm_s": statistics.median(fast_t),
            "peer_s": statistics.median(peer_t),
            "n_runs": len(peer_t),
        }
    return cell | {"loadavg": os.getloadavg()[0]}


def run(quick=False, repeat=5, min_total=1.0, log=print):
    """Every installed peer against fasthmm; a JSON-ready dict."""
    from ..data import model_data

    result = {"tolerance": TOLERANCE, "peers": []}
    with tempfile.TemporaryDirectory(prefix="fasthmm-peers-") as tmp:
        workloads = []
        for i, (kind, k, n_seq, n_steps) in enumerate(_sizes(quick)):
            data = model_data(kind, k, n_seq, n_steps)
            _write(Path(tmp) / str(i), data)
            workloads.append((_label(kind, k, n_seq, n_steps), kind, data))
        fast = Worker("fasthmm")
        try:
            result["fasthmm"] = fast.version
            for name, package in PEERS.items():
                entry = {"name": name, "version": None, "workloads": []}
                result["peers"].append(entry)
                if find_spec(package) is None:
                    log(f"[peers] {name} is not installed: skipped")
                    continue
                log(f"[peers] {name}: starting its worker")
                peer = Worker(name)
                try:
                    if peer.missing:
                        log(f"[peers] {name} cannot be imported: {peer.version}")
                        continue
                    entry["version"] = peer.version
                    for i, (label, kind, data) in enumerate(workloads):
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
                            cell = _cell(fast, peer, op, data, repeat, min_total)
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
        "in another, on the same data, timed alternately (median); ratio = peer "
        "time / fasthmm time, above 1 = fasthmm faster",
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
                    rows.append(row + ["-"] * 6 + [why])
                    continue
                rows.append(
                    row
                    + [
                        ms(c["fasthmm_s"]),
                        ms(c["peer_s"]),
                        ratio(c["peer_s"] / c["fasthmm_s"]),
                        f"{c['discrepancy']:.0e}",
                        f"{c['first_s']:.2f}",
                        f"{c['loadavg']:.2f}",
                        "",
                    ]
                )
        header = ["workload", "operation", "fasthmm ms", f"{name} ms", "ratio"]
        header += ["check", "first call s", "load avg", "note"]
        out += ["", entry["version"]]
        out += table(header, rows, "<<>>>>>><")
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
            "peer's untimed first call (JIT compilation included); load avg: "
            "os.getloadavg() 1-minute average right after the row (compare with the "
            "number of logical CPUs)",
        ]
    )


def _ratio(cell):
    if cell is None or cell["status"] not in ("ok", "differs"):
        return "-"
    if cell["status"] == "differs":
        return "?"
    from ..report import ratio

    return ratio(cell["peer_s"] / cell["fasthmm_s"])
