"""The cold-start table (``python -m benchmarks --peers --cold``) without
compiling: fake libraries in plain NumPy (:mod:`benchmarks.naive`), run
through the real child processes.

Checked: one row per library (a missing one said so), the rounds in turn
and reversed, the reference cold on empty caches and warm on the cache its
last cold run left, a wrong answer caught and shown; and, with hmmlearn
installed, that its adapter agrees with fasthmm's answers.
"""

import textwrap

import pytest

from benchmarks import peers, peers_cold
from benchmarks.__main__ import main
from benchmarks.data import model_data

WORKLOAD = ("categorical", 2, 3, 50)

FAKE = """
import os
from pathlib import Path

from benchmarks import naive
from benchmarks.data import SPECS, Data

VERSION = "fake reference 1.0"
SHIFT = 0.0


def prepare(kind, params, X, lengths):
    # what a JIT leaves in its cache, for the next process
    Path(os.environ["NUMBA_CACHE_DIR"], "kernel.nbc").write_text("")
    return Data(X, lengths, params, SPECS[kind])


def call(d, op):
    le = d.spec.log_emissions(d.X, d.params)
    p = (le, d.params["startprob_"], d.params["transmat_"], d.lengths)
    fn = {"score": naive.forward, "decode": naive.viterbi}
    fn["posteriors"] = naive.forward_backward
    if op == "em":  # an "EM iteration" that keeps the parameters
        return (lambda: dict(d.params)), None
    return (lambda: fn[op](*p)), None


def answer(op, out):
    if op == "score":
        return out + SHIFT
    if op == "em":
        return {n: out[n] for n in ("startprob_", "transmat_")}
    return out[1]
"""


@pytest.fixture
def fakes(tmp_path, monkeypatch):
    (tmp_path / "cold_ref.py").write_text(textwrap.dedent(FAKE))
    (tmp_path / "cold_same.py").write_text(
        "from cold_ref import answer, call, prepare  # noqa: F401\n"
        "VERSION = 'fake same 1.0'\n"
    )
    (tmp_path / "cold_off.py").write_text(
        "import cold_ref\nfrom cold_ref import *  # noqa: F403\n"
        "cold_ref.SHIFT = 1.0\nVERSION = 'fake off 1.0'\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # the children's path
    return {"cold_same": None, "cold_off": None, "no_such_module_here": None}


def test_a_cold_run_through_child_processes(fakes):
    result = peers_cold.run(
        rounds=2,
        log=lambda *a: None,
        peers=fakes,
        reference="cold_ref",
        workload=WORKLOAD,
        yardstick=False,
    )
    runs = result["runs"]
    order = ["cold_ref", *fakes]
    assert [r["library"] for r in runs] == [*order, *order[::-1], "cold_ref"]
    assert [r["run"] for r in runs][-1] == "warm"
    ref = [r for r in runs if r["library"] == "cold_ref"]
    assert [r["cache_files_before"] for r in ref] == [0, 0, 1]  # empty, empty, warm
    for r in runs:
        if r["library"] == "no_such_module_here":
            assert r["status"] == "missing"
            continue
        assert r["status"] == "ok" and r["process"]["cpu_s"] > 0
        assert r["first_calls"]["n"] == len(peers.OPERATIONS)
        calls = r["calls"]
        assert set(calls) == set(peers.OPERATIONS)
        assert all(c["cpu_s"] >= 0 and c["wall_s"] > 0 for c in calls.values())
        score = calls["score"]
        if r["library"] == "cold_off":
            assert score["status"] == "differs"
            assert score["discrepancy"] > peers.TOLERANCE
        else:
            assert score["status"] == "ok" and score["discrepancy"] == 0.0
        assert all(calls[op]["status"] == "ok" for op in ("decode", "posteriors", "em"))

    text = "\n".join(peers_cold.lines(result))
    labels = [label for label, _ in peers_cold._groups(result)]
    assert labels == [
        "cold_ref, empty cache",
        "cold_ref, warm cache",
        "cold_same",
        "cold_off",
        "no_such_module_here",
    ]
    cpu_table = text.split("CPU seconds")[1].split("wall seconds")[0]
    row = next(line for line in cpu_table.splitlines() if line.startswith("cold_off"))
    assert "?" in row.split()[2]  # the score cell
    assert "NOT TIMED OR CHECKED: score: answer off by" in text
    assert "no_such_module_here: missing" in text
    assert "In short:" in text


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("hmmlearn") is None,
    reason="hmmlearn is not installed",
)
def test_the_hmmlearn_adapter_agrees_with_fasthmm(tmp_path):
    folder = tmp_path / "0"
    data = model_data(*WORKLOAD)
    peers._write(folder, data)
    handlers = {}
    for name in ("fasthmm", "hmmlearn"):
        handlers[name] = peers.Handler(peers.peer_module(name))
        assert handlers[name].handle("load", str(folder), WORKLOAD[0]) == ("ok",)
    for op in peers.OPERATIONS:
        ref, out = (handlers[n].handle("first", op) for n in ("fasthmm", "hmmlearn"))
        assert ref[0] == out[0] == "ok"
        assert peers.discrepancy(op, out[2], ref[2], data) <= peers.TOLERANCE


def test_cold_needs_peers():
    with pytest.raises(SystemExit, match="--peers"):
        main(["--cold"])
