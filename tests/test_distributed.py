"""fasthmm.distributed.fit on a local dask cluster of two worker processes.

The reference is a local ``fit`` of the same model on the concatenated
partitions, from the same start.
"""

import copy
import functools
import os
import signal
import sys
import threading
import time

import numpy as np
import pytest
from families import BY_NAME
from models_helpers import assert_unchanged, snapshot

import fasthmm
from fasthmm import distributed as fd

TIMEOUT = 60  # seconds: any wait on the cluster


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        worker_dashboard_address=None,
        timeout=TIMEOUT,
    )
    c = distributed.Client(cluster, timeout=TIMEOUT)
    try:
        c.wait_for_workers(2, timeout=TIMEOUT)
        yield c
    finally:
        c.close(timeout=TIMEOUT)
        cluster.close(timeout=TIMEOUT)


def load_part(name, seed, n_seq):
    """A partition of whole sequences drawn from a fixed model of the family."""
    rng = np.random.default_rng(seed)
    family = BY_NAME[name]
    lengths = rng.integers(20, 60, n_seq)
    X = family.sample(np.random.default_rng(100 + seed), 3, int(lengths.sum()))
    return X, lengths


def failing_loader():
    raise OSError("disk on fire")


def _parts(name, n=4):
    return [functools.partial(load_part, name, i, 3 + i) for i in range(n)]


def _local(model, parts):
    data = [p() for p in parts]
    X = np.concatenate([x for x, _ in data])
    lengths = np.concatenate([n for _, n in data])
    return model.fit(X, lengths)


def _assert_same_fit(a, b):
    np.testing.assert_allclose(a.monitor_.history, b.monitor_.history, rtol=1e-8)
    for name in a._param_names():
        np.testing.assert_allclose(
            getattr(a, name), getattr(b, name), rtol=1e-8, atol=1e-12
        )


@pytest.mark.parametrize("name", ["gaussian-diag", "categorical", "gmm-full"])
def test_same_fit_as_local(client, name):
    parts = _parts(name)
    start = BY_NAME[name].make(np.random.default_rng(7), 3, n_iter=5, tol=-np.inf)
    local = _local(copy.deepcopy(start), parts)
    remote = fd.fit(copy.deepcopy(start), client, parts)
    _assert_same_fit(remote, local)
    assert remote.monitor_.iter == local.monitor_.iter == 5


def test_initialised_from_data_as_local(client):
    # All partitions are below the sample quota: the sample is all the data.
    parts = _parts("gaussian-full", 3)
    kw = dict(covariance_type="full", n_iter=4, tol=-np.inf, random_state=3)
    local = _local(fasthmm.GaussianHMM(3, **kw), parts)
    remote = fd.fit(fasthmm.GaussianHMM(3, **kw), client, parts)
    _assert_same_fit(remote, local)


def load_gapped_part(name, seed, n_seq):
    """A partition with missing entries (NaN): whole rows, and for
    multi-feature families single entries too."""
    X, lengths = load_part(name, seed, n_seq)
    rng = np.random.default_rng(200 + seed)
    X = np.asarray(X, dtype=np.float64)
    X[rng.random(X.shape[0]) < 0.2] = np.nan
    if X.ndim == 2 and X.shape[1] > 1:
        X[rng.random(X.shape) < 0.1] = np.nan
    return X, lengths


@pytest.mark.parametrize("name", ["gaussian-full", "categorical"])
def test_partitions_with_missing_entries_fit_as_local(client, name):
    # The partitions' checked data keeps its missing entries marked on the
    # workers and in the initialisation sample gathered from them.
    parts = [functools.partial(load_gapped_part, name, i, 3 + i) for i in range(3)]
    options = {**BY_NAME[name].options, "missing": "marginalize"}
    if name == "categorical":
        options["n_features"] = BY_NAME[name].n_features
    kw = dict(n_iter=4, tol=-np.inf, random_state=3, **options)
    local = _local(BY_NAME[name].cls(3, **kw), parts)
    remote = fd.fit(BY_NAME[name].cls(3, **kw), client, parts)
    _assert_same_fit(remote, local)


def _worker_pids(client):
    return sorted(client.run(os.getpid, wait=True).values())


def test_a_killed_worker_does_not_stop_the_fit(client):
    parts = _parts("gaussian-diag", 6)
    start = BY_NAME["gaussian-diag"].make(
        np.random.default_rng(8), 3, n_iter=60, tol=-np.inf
    )
    local = _local(copy.deepcopy(start), parts)
    model = copy.deepcopy(start)
    pids = _worker_pids(client)
    result = {}

    def run():
        try:
            result["model"] = fd.fit(model, client, parts)
        except BaseException as exc:  # noqa: BLE001 - reported below
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    # Kill one worker once the partitions are loaded and EM is running.
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        held = [k for keys in client.has_what().values() for k in keys]
        if sum(str(k).startswith("_stats") for k in held) or sum(
            str(k).startswith("_load") for k in held
        ) >= len(parts):
            break
        time.sleep(0.01)
    time.sleep(0.1)
    assert thread.is_alive(), "the fit ended before the worker was killed"
    os.kill(pids[0], signal.SIGKILL)
    thread.join(TIMEOUT)
    assert not thread.is_alive(), "the fit did not finish"
    assert "error" not in result, result.get("error")
    _assert_same_fit(result["model"], local)
    client.wait_for_workers(2, timeout=TIMEOUT)  # the nanny restarts it
    assert pids[0] not in _worker_pids(client)


def test_a_raising_loader_is_named_and_the_model_unchanged(client):
    model = BY_NAME["gaussian-diag"].make(np.random.default_rng(9), 3)
    before = snapshot(model)
    parts = [*_parts("gaussian-diag", 2), failing_loader]
    with pytest.raises(
        ValueError, match="partition 2: its loader raised OSError: disk on fire"
    ):
        fd.fit(model, client, parts)
    assert_unchanged(model, before, "a failed distributed fit")


def _returns(value):
    return value


@pytest.mark.parametrize(
    "bad, match",
    [
        (functools.partial(_returns, np.zeros((5, 2))), "must return a tuple"),
        (
            functools.partial(_returns, (np.zeros((5, 3)), None)),
            "partition 1 has 3 features, partition 0 has 2",
        ),
        (
            functools.partial(_returns, (np.zeros((5, 2)), [2, 2])),
            "partition 1: lengths must sum",
        ),
        (
            functools.partial(_returns, (np.full((5, 2), np.nan), None)),
            "partition 1: X must not contain NaN",
        ),
    ],
)
def test_bad_partitions_are_named(client, bad, match):
    model = fasthmm.GaussianHMM(2, n_iter=2)
    before = snapshot(model)
    good = functools.partial(_returns, (np.zeros((5, 2)), None))
    with pytest.raises(ValueError, match=match):
        fd.fit(model, client, [good, bad])
    assert_unchanged(model, before)


def test_symbols_out_of_range_are_named(client):
    model = fasthmm.CategoricalHMM(2, n_features=3, n_iter=2)
    good = functools.partial(_returns, (np.array([[0], [1], [2]]), None))
    bad = functools.partial(_returns, (np.array([[0], [5]]), None))
    with pytest.raises(ValueError, match="partition 1: X"):
        fd.fit(model, client, [good, bad])


def test_bad_partition_lists(client):
    model = fasthmm.GaussianHMM(2)
    with pytest.raises(ValueError, match="at least one partition"):
        fd.fit(model, client, [])
    with pytest.raises(TypeError, match=r"partitions\[1\] must be a zero-argument"):
        fd.fit(model, client, [failing_loader, 3])
    with pytest.raises(TypeError, match="partitions must be a list"):
        fd.fit(model, client, failing_loader)


def test_clear_import_error_without_dask(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r'pip install "fasthmm\[dask\]"'):
        fd.fit(fasthmm.GaussianHMM(2), None, [failing_loader])


def test_a_new_worker_loads_the_kernels_a_first_worker_compiled():
    """Worker processes sharing a Numba cache: a second worker's first fit
    compiles nothing (the shared-cache measurement of ``--scaling``, on the
    cache every process of this run uses)."""
    pytest.importorskip("distributed")
    from benchmarks import scaling

    res = scaling.shared_cache_run(
        n_seq=2, steps=50, cache_dir=None, log=lambda m: None
    )
    first, second = res["workers"]
    assert first["compiled"] + first["loaded"] > 0, "no fasthmm kernel was counted"
    assert second["compiled"] == 0
    assert second["loaded"] > 0
