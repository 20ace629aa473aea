"""The peers benchmark's driver (``python -m benchmarks --peers``) without the
peer libraries: fake peers built here, served in this process or in a worker
process of their own.

Checked: a wrong answer is caught before any timing; the timed calls come in
whole blocks in the order fasthmm, peer, peer, fasthmm; what a peer lacks is
shown as '-' in the report; a whole run through worker processes.
"""

import math
import textwrap
import types

import numpy as np
import pytest

from benchmarks import peers
from benchmarks.data import model_data
from benchmarks.peers import BLOCK_ORDER, MAX_BLOCK, SLOW_S, Handler

WORKLOAD = ("categorical", 2, 3, 50)


class InProcess:
    """A worker that serves a peer module in this process and records the
    requests it got."""

    def __init__(self, peer):
        self.handler, self.requests = Handler(peer), []

    def ask(self, *request):
        self.requests.append(request)
        return self.handler.handle(*request)


def fake_peer(shift=0.0, lacks=()):
    """fasthmm's own adapter under another name; its score off by ``shift``;
    raising NotImplementedError for the operations in ``lacks``."""
    real = peers.peer_module("fasthmm")

    def call(model, op):
        if op in lacks:
            raise NotImplementedError(f"no {op} here")
        return real.call(model, op)

    def answer(op, out):
        value = real.answer(op, out)
        return value + shift if op == "score" else value

    return types.SimpleNamespace(
        VERSION="fake 1.0", prepare=real.prepare, call=call, answer=answer
    )


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """``(data, load)``: the workload's data, and a function loading it into
    a worker."""
    folder = tmp_path_factory.mktemp("peers") / "0"
    data = model_data(*WORKLOAD)
    peers._write(folder, data)

    def load(worker):
        assert worker.ask("load", str(folder), WORKLOAD[0]) == ("ok",)
        return worker

    return data, load


def test_block_size():
    per_lib = BLOCK_ORDER.count("fasthmm")
    assert BLOCK_ORDER.count("peer") == per_lib
    assert peers.block_size(SLOW_S, 5, 1.0) == 1
    assert peers.block_size(0.5, 5, 0.0) == math.ceil(5 / per_lib)
    assert peers.block_size(0.01, 1, 1.0) == math.ceil(1.0 / per_lib / 0.01)
    assert peers.block_size(1e-9, 1, 1.0) == MAX_BLOCK


def test_calls_are_timed_in_whole_blocks_in_abba_order(loaded):
    data, load = loaded
    fast = load(InProcess(peers.peer_module("fasthmm")))
    peer = load(InProcess(fake_peer()))
    cell = peers._cell(fast, peer, "score", data, repeat=4, min_total=0.0)
    assert cell["status"] == "ok" and cell["discrepancy"] == 0.0
    order = []
    for name, w in (("fasthmm", fast), ("peer", peer)):
        blocks = [r for r in w.requests if r[0] == "block"]
        assert blocks[0] == ("block", "score", 1)  # the untimed warm-up
        assert all(b == ("block", "score", 2) for b in blocks[1:])
        order += [(id(r), name) for r in blocks[1:]]
    # the shared log of requests, in the order they were made
    log = []
    fast_ask, peer_ask = fast.ask, peer.ask
    fast.ask = lambda *r: log.append("fasthmm") or fast_ask(*r)
    peer.ask = lambda *r: log.append("peer") or peer_ask(*r)
    peers._time_cell({"fasthmm": fast, "peer": peer}, "score", 4, 0.0)
    assert log == ["fasthmm", "peer", *BLOCK_ORDER]
    assert cell["n_runs"] == cell["fasthmm_runs"] == 4
    assert set(cell["other_load"]) == {"fasthmm", "peer"}


def test_a_wrong_answer_is_not_timed(loaded):
    data, load = loaded
    fast = load(InProcess(peers.peer_module("fasthmm")))
    peer = load(InProcess(fake_peer(shift=1e-3 * abs(data.X.shape[0]))))
    cell = peers._cell(fast, peer, "score", data, repeat=4, min_total=0.0)
    assert cell["status"] == "differs" and cell["discrepancy"] > peers.TOLERANCE
    assert "peer_s" not in cell
    assert not [r for r in peer.requests + fast.requests if r[0] == "block"]


def test_what_a_peer_lacks_is_shown_as_a_dash(loaded):
    data, load = loaded
    fast = load(InProcess(peers.peer_module("fasthmm")))
    peer = load(InProcess(fake_peer(lacks=("posteriors",))))
    cells = [
        peers._cell(fast, peer, op, data, repeat=2, min_total=0.0)
        for op in peers.OPERATIONS
    ]
    assert [c["status"] for c in cells] == ["ok", "ok", "lacks", "ok"]
    result = {
        "tolerance": peers.TOLERANCE,
        "threads": 1,
        "fasthmm": "fasthmm test",
        "peers": [
            {
                "name": "fake",
                "version": "fake 1.0",
                "workloads": [{"label": "tiny", "cells": cells}],
            }
        ],
    }
    text = "\n".join(peers.lines(result))
    assert "no posteriors here" in text
    summary = text.split("== peer time / fasthmm time")[1].splitlines()
    row = next(line for line in summary if line.startswith("tiny"))
    ratios = [r.strip() for r in row.split("tiny", 1)[1].split("/")]
    assert ratios[2] == "-" and all(r not in ("-", "?") for r in ratios[:2])


def test_a_run_through_worker_processes(tmp_path, monkeypatch):
    module = tmp_path / "fasthmm_fake_peer.py"
    module.write_text(
        textwrap.dedent(
            """
            from benchmarks.peers.fasthmm import answer, call, prepare  # noqa: F401

            VERSION = "fake peer 0.1"


            def set_threads(n):
                return f"asked for {n} threads"
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    result = peers.run(
        repeat=2,
        min_total=0.0,
        log=lambda *a: None,
        peers={"fasthmm_fake_peer": None, "no_such_module_here": None},
        workloads=(WORKLOAD,),
    )
    fake, missing = result["peers"]
    assert missing["version"] is None
    assert fake["version"] == "fake peer 0.1"
    assert fake["threads"] == f"asked for {result['threads']} threads"
    cells = fake["workloads"][0]["cells"]
    assert [c["status"] for c in cells] == ["ok"] * len(peers.OPERATIONS)
    assert all(np.isfinite(c["peer_s"]) and c["n_runs"] >= 2 for c in cells)
    text = "\n".join(peers.lines(result))
    assert "fake peer 0.1" in text
