"""Progress on long work (fasthmm._progress): silent when short, a line or a bar when long."""

import numpy as np
import pytest

import fasthmm
from fasthmm import _progress


@pytest.fixture()
def always_long(monkeypatch):
    monkeypatch.setattr(_progress, "AFTER_SECONDS", 0.0)
    previous = _progress.set_progress("line")
    yield
    _progress.set_progress(previous)


def data():
    rng = np.random.RandomState(0)
    return np.concatenate([rng.normal(0, 1, (50, 1)), rng.normal(4, 1, (50, 1))])


def test_short_fit_is_silent(capsys):
    previous = _progress.set_progress("line")
    try:
        fasthmm.GaussianHMM(2, n_iter=3, random_state=0).fit(data())
    finally:
        _progress.set_progress(previous)
    assert capsys.readouterr().err == ""


def test_long_fit_shows_a_line(always_long, capsys):
    model = fasthmm.GaussianHMM(2, n_iter=5, tol=-1, random_state=0).fit(data())
    err = capsys.readouterr().err
    assert "EM: 5/5" in err and err.endswith("\n")
    assert f"{model.monitor_.history[-1]:.6g}" in err


def test_selection_shows_only_its_own_progress(always_long, capsys):
    fasthmm.select_n_components(
        fasthmm.GaussianHMM(n_iter=3), data(), k_values=[1, 2], n_restarts=2
    )
    err = capsys.readouterr().err
    assert "select_n_components: 4/4" in err and "EM:" not in err


def test_verbose_and_off_show_no_progress(always_long, capsys):
    _progress.set_progress("off")
    fasthmm.GaussianHMM(2, n_iter=2, random_state=0).fit(data())
    assert capsys.readouterr().err == ""
    _progress.set_progress("line")
    fasthmm.GaussianHMM(2, n_iter=2, tol=-1, verbose=True, random_state=0).fit(data())
    err = capsys.readouterr().err
    assert "EM:" not in err and len(err.strip().splitlines()) == 2


def test_tqdm_bar_in_auto_mode(monkeypatch, capsys):
    pytest.importorskip("tqdm")
    monkeypatch.setattr(_progress, "AFTER_SECONDS", 0.0)
    previous = _progress.set_progress("auto")
    try:
        fasthmm.GaussianHMM(2, n_iter=4, tol=-1, random_state=0).fit(data())
    finally:
        _progress.set_progress(previous)
    assert "EM" in capsys.readouterr().err


def test_bad_mode_is_rejected():
    with pytest.raises(ValueError, match="mode must be one of"):
        _progress.set_progress("loud")
