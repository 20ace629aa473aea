"""Streams and partial_fit of regime-switching models:
``python -m benchmarks.regime_stream``.

CPU microseconds per pushed row (median of ``--repeat`` runs), one row at a
time and in chunks of ``CHUNK``, with online Viterbi and ``lag=3``, for a
GaussianHMM (diag, K=4, one feature) with a stationary chain, the same
model with input-driven transitions (two transition inputs: an intercept
and a random one), and an ARHMM (order 2, K=4, two features). Then CPU
milliseconds per ``partial_fit`` call on batches of ``BATCH`` rows, over
``N_BATCHES`` calls, for the stationary and the input-driven chain (the
latter's running statistics keep one row per step of continuous inputs, so
its cost grows with the steps seen: first and last calls shown).
"""

import argparse
import copy
import statistics
import time

import numpy as np

import fasthmm

K = 4
N_ROWS = 4000
CHUNK = 100
BATCH, N_BATCHES = 250, 40


def _models(rng):
    stationary = fasthmm.GaussianHMM(K, covariance_type="diag", init_params="")
    stationary.startprob_ = np.full(K, 1.0 / K)
    stationary.transmat_ = np.full((K, K), 0.05) + 0.8 * np.eye(K)
    stationary.means_ = rng.normal(scale=3.0, size=(K, 1))
    stationary.covars_ = np.ones((K, 1))
    tvtp = fasthmm.GaussianHMM(
        K, covariance_type="diag", init_params="", transition_inputs=True
    )
    coef = rng.normal(size=(K, K, 2))
    coef[:, :, 0] += 3.0 * np.eye(K)
    coef[:, -1] = 0.0
    tvtp.startprob_, tvtp.transcoef_ = stationary.startprob_, coef
    tvtp.means_, tvtp.covars_ = stationary.means_, stationary.covars_
    ar = fasthmm.ARHMM(K, order=2, covariance_type="diag", init_params="")
    ar.startprob_, ar.transmat_ = stationary.startprob_, stationary.transmat_
    ar.coef_ = 0.2 * rng.normal(size=(K, 2, 4))
    ar.intercept_ = rng.normal(scale=2.0, size=(K, 2))
    ar.covars_ = np.ones((K, 2))
    return stationary, tvtp, ar


def _per_row(stream, pieces, n_rows, repeat):
    """Median CPU microseconds per row of pushing ``pieces`` ((x, kw) pairs)."""
    stream.push(*pieces[0][:1], **pieces[0][1])  # compiled outside the timing
    times = []
    for _ in range(repeat):
        stream.reset()
        start = time.process_time()
        for x, kw in pieces:
            stream.push(x, **kw)
        times.append((time.process_time() - start) / n_rows * 1e6)
    return statistics.median(times)


def _pieces(X, W, size):
    out = []
    for i in range(0, X.shape[0], size):
        x = X[i] if size == 1 else X[i : i + size]
        kw = {} if W is None else {"transition_inputs": W[i : i + size]}
        out.append((x, kw))
    return out


def _partial_fit_ms(model, batches, tvtp):
    times = []
    for X, W in batches:
        kw = {"transition_inputs": W} if tvtp else {}
        start = time.process_time()
        model.partial_fit(X, **kw)
        times.append((time.process_time() - start) * 1e3)
    return times


def run(repeat=5, log=print):
    rng = np.random.default_rng(0)
    stationary, tvtp, ar = _models(rng)
    W = np.column_stack([np.ones(N_ROWS), rng.normal(size=N_ROWS)])
    X = stationary.sample(N_ROWS, random_state=1)[0]
    Y = ar.sample(N_ROWS, random_state=2)[0]
    log(f"CPU us per pushed row (lag=3, Viterbi), K={K}, {N_ROWS} rows")
    for name, model, data, w in (
        ("GaussianHMM, stationary chain", stationary, X, None),
        ("GaussianHMM, input-driven transitions", tvtp, X, W),
        ("ARHMM order 2, two features", ar, Y, None),
    ):
        one = _per_row(model.stream(lag=3), _pieces(data, w, 1), N_ROWS, repeat)
        chunk = _per_row(model.stream(lag=3), _pieces(data, w, CHUNK), N_ROWS, repeat)
        log(f"  {name:40s} one row {one:7.2f}   chunks of {CHUNK} {chunk:6.3f}")
    batches = []
    for _ in range(N_BATCHES):
        w = np.column_stack([np.ones(BATCH), rng.normal(size=BATCH)])
        batches.append(
            (tvtp.sample(BATCH, random_state=rng, transition_inputs=w)[0], w)
        )
    log(f"CPU ms per partial_fit call, batches of {BATCH} rows, {N_BATCHES} calls")
    for name, model, is_tvtp in (
        ("stationary chain", stationary, False),
        ("input-driven transitions", tvtp, True),
    ):
        ms = _partial_fit_ms(copy.deepcopy(model), batches, is_tvtp)
        log(
            f"  {name:40s} first {ms[0]:6.1f}   median {statistics.median(ms):6.1f}"
            f"   last {ms[-1]:6.1f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    run(parser.parse_args().repeat)
