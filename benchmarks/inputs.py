"""Input-driven transitions: ``python -m benchmarks --inputs``.

``GaussianHMM`` (diagonal covariances, 2 features) on 100 sequences x 1000
steps, for K in {2, 4, 8} states, with a stationary chain and with
``transition_inputs=True`` (3 transition inputs: a constant and two random
columns): one EM iteration (with its E-step and M-step apart), ``score`` and
``decode``. The ratio is what a transition matrix per step costs: its
computation from the inputs (K * K * n_inputs multiply-adds and K * K
exponentials per step), the forward-backward over a matrix per step, and
the M-step's logistic regressions (all rows of transcoef_ at once: one
Newton step per iteration, one pass over the steps for the gradient and,
unless the previous iteration's serve, the information matrices, one for
the candidate's value).
"""

from __future__ import annotations

import functools

import numpy as np

N_SEQ, N_STEPS, N_INPUTS = 100, 1000, 3
KS = (2, 4, 8)
#: EM iterations before the "later" M-step.
LATER = 5
QUICK_KS = (4,)


def _models(k, seed=0):
    import fasthmm

    rng = np.random.default_rng(seed)
    stationary = fasthmm.GaussianHMM(k, n_iter=1, init_params="")
    stationary.startprob_ = rng.dirichlet(np.ones(k))
    stationary.transmat_ = 0.5 * np.eye(k) + 0.5 * rng.dirichlet(np.ones(k), size=k)
    stationary.means_ = rng.normal(scale=2.0, size=(k, 2))
    stationary.covars_ = np.ones((k, 2))
    driven = fasthmm.GaussianHMM(k, n_iter=1, init_params="", transition_inputs=True)
    driven.startprob_, driven.means_, driven.covars_ = (
        stationary.startprob_,
        stationary.means_,
        stationary.covars_,
    )
    coef = rng.normal(scale=0.5, size=(k, k, N_INPUTS))
    coef[:, :, 0] = np.log(stationary.transmat_) - np.log(stationary.transmat_[:, -1:])
    coef[:, -1, :] = 0.0
    driven.transcoef_ = coef
    return stationary, driven


def _data(model, seed=1):
    rng = np.random.default_rng(seed)
    X = np.concatenate([model.sample(N_STEPS, random_state=s)[0] for s in range(N_SEQ)])
    n = X.shape[0]
    W = np.column_stack([np.ones(n), rng.normal(size=(n, N_INPUTS - 1))])
    return X, [N_STEPS] * N_SEQ, W


def _refit(model, X, lengths, **kw):
    """One EM iteration from the same parameters every time."""
    saved = {n: np.copy(getattr(model, n)) for n in model._param_names()}

    def run():
        for name, value in saved.items():
            setattr(model, name, value)
        return model.fit(X, lengths, **kw)

    return run


def _split(model, X, lengths, W, after=0):
    """(E-step, M-step) calls of one iteration, the first or the one after
    ``after`` EM iterations (whose M-step may start from the matrices of the
    M-step before it)."""
    from fasthmm.em import expected_stats, maximize

    params = model._checked_params()
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    stats = expected_stats(params, X, starts, w=W)
    for _ in range(after):
        params = maximize(params, stats, model.params)
        stats = expected_stats(params, X, starts, w=W)
    return (
        lambda: expected_stats(params, X, starts, w=W),
        lambda: maximize(params, stats, model.params),
    )


def run(quick, repeat, log):
    """Rows of the table: one per K."""
    from .suites import time_calls

    rows = []
    for k in QUICK_KS if quick else KS:
        log(f"inputs: K={k} ...")
        stationary, driven = _models(k)
        X, lengths, W = _data(stationary)
        kw = {"transition_inputs": W}
        e_driven, m_driven = _split(driven, X, lengths, W)
        _, m_later = _split(driven, X, lengths, W, after=LATER)
        e_plain, m_plain = _split(stationary, X, lengths, None)
        score, decode = stationary.score, stationary.decode
        score_w = functools.partial(driven.score, **kw)
        decode_w = functools.partial(driven.decode, **kw)
        calls = [
            (_refit(stationary, X, lengths), None),
            (_refit(driven, X, lengths, **kw), None),
            (e_plain, None),
            (e_driven, None),
            (m_driven, None),
            (m_later, None),
            (functools.partial(score, X, lengths), None),
            (functools.partial(score_w, X, lengths), None),
            (functools.partial(decode, X, lengths), None),
            (functools.partial(decode_w, X, lengths), None),
        ]
        times, _, _ = time_calls(calls, repeat=repeat)
        med = [float(np.median(t)) for t in times]
        keys = (
            "em_s",
            "tvtp_em_s",
            "e_s",
            "tvtp_e_s",
            "tvtp_m_s",
            "tvtp_m_later_s",
            "score_s",
            "tvtp_score_s",
            "decode_s",
            "tvtp_decode_s",
        )
        rows.append({"k": k, **dict(zip(keys, med))})
    return rows


def lines(rows):
    """The report's table."""
    out = [
        "",
        f"== input-driven transitions: GaussianHMM (diag, 2 features), "
        f"{N_SEQ} x {N_STEPS} steps, {N_INPUTS} transition inputs vs a "
        "stationary chain",
        f"{'K':>3} {'EM ms':>8} {'inputs':>8} {'x':>5} {'E-step':>7} "
        f"{'inputs':>7} {'M-step':>7} {'later':>7} {'score':>7} {'inputs':>7} {'x':>5} "
        f"{'decode':>7} {'inputs':>7} {'x':>5}",
    ]
    for r in rows:
        out.append(
            f"{r['k']:>3} {r['em_s'] * 1e3:8.1f} {r['tvtp_em_s'] * 1e3:8.1f} "
            f"{r['tvtp_em_s'] / r['em_s']:5.1f} {r['e_s'] * 1e3:7.1f} "
            f"{r['tvtp_e_s'] * 1e3:7.1f} {r['tvtp_m_s'] * 1e3:7.1f} "
            f"{r['tvtp_m_later_s'] * 1e3:7.1f} "
            f"{r['score_s'] * 1e3:7.1f} {r['tvtp_score_s'] * 1e3:7.1f} "
            f"{r['tvtp_score_s'] / r['score_s']:5.1f} "
            f"{r['decode_s'] * 1e3:7.1f} {r['tvtp_decode_s'] * 1e3:7.1f} "
            f"{r['tvtp_decode_s'] / r['decode_s']:5.1f}"
        )
    out.append(
        "ms: median per call; inputs: the same model with transition_inputs=True; "
        "x: inputs / stationary; E-step, M-step: one iteration's parts (the "
        f"stationary M-step is negligible); later: the M-step after {LATER} EM "
        "iterations (its Newton step may reuse the previous information matrices)"
    )
    return out
