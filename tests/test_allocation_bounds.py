"""Sizes larger than the machine's memory are refused by name, before
anything of that size is allocated (a ValueError, not a MemoryError or a
machine brought to a crawl), and the model or stream is left as it was."""

import numpy as np
import pytest

import fasthmm
from fasthmm import _validation

HUGE = 10**15


@pytest.fixture
def fitted():
    X = np.random.default_rng(0).normal(size=(60, 2))
    return fasthmm.GaussianHMM(2, random_state=0).fit(X), X


def test_symbols_implying_a_huge_table():
    model = fasthmm.CategoricalHMM()
    with pytest.raises(ValueError, match=r"n_features \(from X\) = 1000000000000001"):
        model.fit([[0], [HUGE]])
    assert not hasattr(model, "emissionprob_") or model.emissionprob_ is None


@pytest.mark.parametrize("k", [10**9, HUGE])
def test_an_absurd_number_of_states(fitted, k):
    _, X = fitted
    with pytest.raises(ValueError, match=f"n_components = {k} needs"):
        fasthmm.GaussianHMM(k).fit(X)
    model, _ = fitted
    before = model.score(X)
    model.n_components = k  # an edited model: refused before any planning
    for call in (model.score, model.predict, model.fit):
        with pytest.raises(ValueError, match="n_components"):
            call(X)
    model.n_components = 2
    assert model.score(X) == before


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lag": 10**9}, "lag"),
        ({"lag": HUGE}, "lag"),
        ({"max_delay": HUGE}, "max_delay"),
    ],
)
def test_stream_windows_larger_than_memory(fitted, kwargs, name):
    model, _ = fitted
    with pytest.raises(ValueError, match=f"{name} = {kwargs[name]} needs"):
        model.stream(**kwargs)
    with pytest.raises(ValueError, match=name):
        fasthmm.stream_filter([0.5, 0.5], np.full((2, 2), 0.5), **kwargs)


def test_the_bound_is_the_machines_memory(monkeypatch):
    limit = _validation.memory_size()
    assert limit is None or limit > 2**20
    monkeypatch.setattr(_validation, "memory_size", lambda: 1000)
    _validation.check_allocation((125,), "n", 125, "an array")  # 1000 bytes: fits
    with pytest.raises(ValueError, match=r"n = 126 needs an array of shape \(126,\)"):
        _validation.check_allocation((126,), "n", 126, "an array")
    monkeypatch.setattr(_validation, "memory_size", lambda: None)  # unknown
    _validation.check_allocation((HUGE, HUGE), "n", HUGE, "an array")
