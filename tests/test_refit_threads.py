"""Refitting a model that other threads are using: every call sees one whole
model, and of two fits finishing together one wins whole.

The model here writes its parameters slowly (a fitting thread sleeps after
each one, for as long as the thread says), so a call that read them one by
one during a fit would see a mix, and two fits writing at different speeds
would interleave: each score in another thread must equal the score of one
of the two models, computed serially on copies fitted alone, and the
parameters after two fits must be one of them.
"""

import threading
import time

import numpy as np

import fasthmm

PAUSE = threading.local()  # .seconds: this thread's pause after each write


class _SlowWritingGaussianHMM(fasthmm.GaussianHMM):
    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        if name in ("startprob_", "transmat_", "means_", "covars_"):
            time.sleep(getattr(PAUSE, "seconds", 0.0))  # other threads run


def _data(seed, shift):
    rng = np.random.default_rng(seed)
    states = rng.integers(0, 2, 300)
    return rng.normal(size=(300, 2)) + shift * states[:, None]


XA, XB, Y = _data(0, 3.0), _data(1, -6.0), _data(2, 1.0)


def _model(cls=fasthmm.GaussianHMM):
    return cls(2, covariance_type="diag", n_iter=3, random_state=0)


def _parameters(model):
    return [model.startprob_, model.transmat_, model.means_, model.covars_]


def test_a_score_beside_refits_sees_one_whole_model():
    scores = {_model().fit(X).score(Y) for X in (XA, XB)}
    assert len(scores) == 2
    model = _model(_SlowWritingGaussianHMM).fit(XA)
    done = threading.Event()
    seen = []

    def read():
        while not done.is_set():
            seen.append(model.score(Y))

    readers = [threading.Thread(target=read) for _ in range(2)]
    for r in readers:
        r.start()
    try:
        PAUSE.seconds = 0.002
        for X in (XB, XA, XB, XA, XB, XA):
            model.fit(X)
    finally:
        PAUSE.seconds = 0.0
        done.set()
        for r in readers:
            r.join()
    assert seen
    mixed = [s for s in seen if not any(np.isclose(s, v, rtol=1e-9) for v in scores)]
    assert not mixed, f"{len(mixed)} of {len(seen)} scores match neither model"


def test_two_fits_finishing_together_leave_one_whole_model():
    expected = [_parameters(_model().fit(X)) for X in (XA, XB)]
    for _ in range(3):
        model = _model(_SlowWritingGaussianHMM)
        barrier = threading.Barrier(2)

        def fit(X, pause, model=model, barrier=barrier):
            PAUSE.seconds = pause  # one writes slowly, the other fast
            barrier.wait()
            model.fit(X)

        threads = [
            threading.Thread(target=fit, args=args)
            for args in ((XA, 0.01), (XB, 0.001))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        got = _parameters(model)
        assert any(
            all(np.allclose(a, b, rtol=1e-9, atol=0) for a, b in zip(got, want))
            for want in expected
        ), "the parameters mix the two fits"
