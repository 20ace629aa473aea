"""The first-use compilation is announced through logging (logger "fasthmm"):
when a fasthmm kernel really compiles (not when it is loaded from the cache),
whatever public call needed it first."""

import logging

import numba
import numpy as np

import fasthmm
from fasthmm import _first_use


def _fresh_kernel(module):
    """A new Numba function (never cached) that claims to live in ``module``."""

    def kernel(x):
        return x + 1.0

    kernel.__module__ = module
    return numba.njit(kernel)


def test_a_compiling_fasthmm_kernel_is_announced_once(monkeypatch, caplog):
    monkeypatch.setitem(_first_use._state, "warned", False)
    with caplog.at_level(logging.WARNING, logger="fasthmm"):
        _fresh_kernel("fasthmm._kernels.example")(1.0)
        _fresh_kernel("fasthmm._kernels.other")(1.0)
    messages = [r.getMessage() for r in caplog.records if r.name == "fasthmm"]
    assert messages == [_first_use.MESSAGE]


def test_other_packages_kernels_are_not_announced(monkeypatch, caplog):
    monkeypatch.setitem(_first_use._state, "warned", False)
    with caplog.at_level(logging.WARNING, logger="fasthmm"):
        _fresh_kernel("someone_else")(1.0)
    assert not [r for r in caplog.records if r.name == "fasthmm"]


def test_kernels_loaded_or_already_compiled_are_not_announced(monkeypatch, caplog):
    # After a first fit every kernel of the route is compiled (or loaded from
    # the cache, which raises no compile event): a second fit announces nothing.
    X = np.random.RandomState(0).normal(size=(20, 1))
    fasthmm.GaussianHMM(2, n_iter=2, random_state=0).fit(X)
    monkeypatch.setitem(_first_use._state, "warned", False)
    with caplog.at_level(logging.WARNING, logger="fasthmm"):
        fasthmm.GaussianHMM(2, n_iter=2, random_state=0).fit(X)
    assert not [r for r in caplog.records if r.name == "fasthmm"]


def test_first_call_time_is_a_debug_record(monkeypatch, caplog):
    monkeypatch.setitem(_first_use._state, "done", False)
    X = np.random.RandomState(0).normal(size=(20, 1))
    with caplog.at_level(logging.DEBUG, logger="fasthmm"):
        fasthmm.GaussianHMM(2, n_iter=2, random_state=0).fit(X)
        fasthmm.GaussianHMM(2, n_iter=2, random_state=0).fit(X)
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    assert len(debug) == 1 and "first call" in debug[0].getMessage()
