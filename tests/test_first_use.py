"""The first-use compilation is announced through logging (logger "fasthmm")."""

import logging

import numpy as np

import fasthmm
from fasthmm import _first_use


def test_first_call_is_announced_when_no_cache_is_found(monkeypatch, caplog):
    monkeypatch.setitem(_first_use._state, "done", False)
    monkeypatch.setattr(_first_use, "kernels_cached", lambda: False)
    X = np.random.RandomState(0).normal(size=(20, 1))
    with caplog.at_level(logging.DEBUG, logger="fasthmm"):
        fasthmm.GaussianHMM(2, n_iter=2, random_state=0).fit(X)
        fasthmm.GaussianHMM(2, n_iter=2, random_state=0).fit(X)
    records = [r for r in caplog.records if r.name == "fasthmm"]
    assert [r.levelno for r in records] == [logging.WARNING, logging.DEBUG]
    assert "compiling" in records[0].getMessage()
    assert "first call" in records[1].getMessage()


def test_no_warning_when_the_cache_exists(monkeypatch, caplog):
    monkeypatch.setitem(_first_use._state, "done", False)
    monkeypatch.setattr(_first_use, "kernels_cached", lambda: True)
    with caplog.at_level(logging.DEBUG, logger="fasthmm"):
        fasthmm.GaussianHMM(2, n_iter=2, random_state=0).fit(np.arange(20.0))
    levels = [r.levelno for r in caplog.records if r.name == "fasthmm"]
    assert levels == [logging.DEBUG]
