"""Hidden semi-Markov models: ``python -m benchmarks --hsmm``.

One EM iteration and one Viterbi decoding of ``GaussianHSMM`` (diagonal
covariances, 2 features, nonparametric durations) on 100 sequences x 1000
steps, for K in {4, 16} states and max_duration D in {20, 100}, against

- a plain NumPy HSMM (the same scaled forward-backward over segments and
  log-space Viterbi, a Python loop over time vectorised over states and
  durations), timed on a few sequences and scaled to the 100 (its cost is
  linear in the number of sequences);
- fasthmm's own ``GaussianHMM`` on the same data: an HSMM's recursion costs
  about D times an HMM's, and the ratio shows the constant.
"""

from __future__ import annotations

import numpy as np

N_SEQ, N_STEPS = 100, 1000
CASES = ((4, 20), (4, 100), (16, 20), (16, 100))
QUICK_CASES = ((4, 20),)
NAIVE_SEQ = 3  # sequences the NumPy reference is timed on


def _model(k, dmax, seed=0):
    import fasthmm

    rng = np.random.default_rng(seed)
    m = fasthmm.GaussianHSMM(k, max_duration=dmax, n_iter=1, init_params="")
    m.startprob_ = rng.dirichlet(np.ones(k))
    jumps = rng.dirichlet(np.ones(k - 1), size=k)
    m.transmat_ = np.zeros((k, k))
    m.transmat_[~np.eye(k, dtype=bool)] = jumps.ravel()
    m.durationprob_ = rng.dirichlet(np.ones(dmax), size=k)
    m.means_ = rng.normal(scale=2.0, size=(k, 2))
    m.covars_ = np.ones((k, 2))
    return m


def naive_forward_backward(le, startprob, transmat, pmf):
    """Log-likelihood and posteriors of one sequence, in plain NumPy."""
    n, k = le.shape
    surv = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(surv > 0, pmf / surv, 0.0)
        cont = np.zeros_like(surv)
        cont[:, 1:] = np.where(surv[:, :-1] > 0, surv[:, 1:] / surv[:, :-1], 0.0)
    shift = le.max(axis=1)
    e = np.exp(le - shift[:, None])
    enter, end, c = np.empty((n, k)), np.empty((n, k)), np.empty(n)
    a = np.zeros_like(pmf)
    enter[0] = startprob
    for t in range(n):
        new = np.empty_like(a)
        new[:, 0] = enter[t]
        new[:, 1:] = a[:, :-1] * cont[:, 1:]
        new *= e[t][:, None]
        c[t] = new.sum()
        a = new / c[t]
        end[t] = (a * hazard).sum(axis=1)
        if t + 1 < n:
            enter[t + 1] = end[t] @ transmat
    last = a.sum(axis=1)
    b = np.zeros_like(pmf)
    leave, censored, gamma = np.zeros(k), np.ones(k), last.copy()
    post = np.empty((n, k))
    for u in range(n - 1, -1, -1):
        ev = e[u] / c[u]
        b = np.concatenate([leave[:, None], b[:, :-1]], axis=1) * ev[:, None]
        censored = censored * ev
        begin = (pmf * b).sum(axis=1)
        if n - u <= pmf.shape[1]:
            begin = begin + surv[:, n - u - 1] * censored
        post[u] = gamma
        if u:
            leave = transmat @ begin
            gamma = gamma - enter[u] * begin + end[u - 1] * leave
    return float(np.log(c).sum() + shift.sum()), post


def naive_viterbi(le, startprob, transmat, pmf):
    """Log-probability of the best segmentation of one sequence (NumPy)."""
    n, k = le.shape
    dmax = pmf.shape[1]
    with np.errstate(divide="ignore"):
        lpi, la, lp = np.log(startprob), np.log(transmat), np.log(pmf)
        ls = np.log(np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1])
    entry, best = np.empty((n, k)), np.empty((n, k))
    cum = np.vstack([np.zeros(k), np.cumsum(le, axis=0)])
    for t in range(n):
        entry[t] = lpi if t == 0 else (best[t - 1][:, None] + la).max(axis=0)
        d = np.arange(1, min(dmax, t + 1) + 1)
        u = t + 1 - d
        window = cum[t + 1] - cum[u] + entry[u]  # (len(d), k)
        tail = ls if t == n - 1 else lp
        best[t] = (window + lp[:, : len(d)].T).max(axis=0)
    return float((window + tail[:, : len(d)].T).max())


def _calls(model, hmm, X, lengths, le):
    """The timed calls: HSMM EM and Viterbi, HMM EM and Viterbi, NumPy E-step
    and Viterbi (on the first sequences)."""
    params = {
        n: np.copy(getattr(model, n))
        for n in model._param_names()
        if getattr(model, n, None) is not None
    }
    chain = (model.startprob_, model.transmat_, model.durationprob_)
    pieces = [le[s * N_STEPS : (s + 1) * N_STEPS] for s in range(NAIVE_SEQ)]

    def fit_hsmm():  # from the same parameters every time
        for name, v in params.items():
            setattr(model, name, v)
        return model.fit(X, lengths)

    return [
        (fit_hsmm, None),
        (lambda: model.decode(X, lengths), None),
        (lambda: hmm.fit(X, lengths), None),
        (lambda: hmm.decode(X, lengths), None),
        (lambda: [naive_forward_backward(p, *chain) for p in pieces], None),
        (lambda: [naive_viterbi(p, *chain) for p in pieces], None),
    ]


def run(quick, repeat, log):
    """Rows of the table: one per (K, D)."""
    import fasthmm

    from .suites import time_calls

    rows = []
    for k, dmax in QUICK_CASES if quick else CASES:
        log(f"hsmm: K={k}, D={dmax} ...")
        model = _model(k, dmax)
        X = np.concatenate(
            [model.sample(N_STEPS, random_state=s)[0] for s in range(N_SEQ)]
        )
        lengths = [N_STEPS] * N_SEQ
        hmm = fasthmm.GaussianHMM(k, n_iter=1, init_params="")
        hmm.startprob_, hmm.means_, hmm.covars_ = (
            model.startprob_,
            model.means_,
            model.covars_,
        )
        hmm.transmat_ = 0.5 * np.eye(k) + 0.5 * model.transmat_
        le = model.log_emissions(X)[: NAIVE_SEQ * N_STEPS]
        fast_ll = model.score(X[: NAIVE_SEQ * N_STEPS], [N_STEPS] * NAIVE_SEQ)
        calls = _calls(model, hmm, X, lengths, le)
        times, _, results = time_calls(calls, repeat=repeat)
        med = [float(np.median(t)) for t in times]
        scale = N_SEQ / NAIVE_SEQ
        naive_ll = sum(r[0] for r in results[4])
        rows.append(
            {
                "k": k,
                "d": dmax,
                "em_s": med[0],
                "viterbi_s": med[1],
                "hmm_em_s": med[2],
                "hmm_viterbi_s": med[3],
                "naive_em_s": med[4] * scale,
                "naive_viterbi_s": med[5] * scale,
                "ll_difference": abs(fast_ll - naive_ll),
            }
        )
    return rows


def lines(rows):
    """The report's table."""
    out = [
        "",
        f"== hidden semi-Markov models: GaussianHSMM (diag, 2 features), "
        f"{N_SEQ} x {N_STEPS} steps; NumPy timed on {NAIVE_SEQ} sequences, scaled",
        f"{'K':>3} {'D':>4} {'EM ms':>8} {'NumPy EM':>9} {'x':>6} {'HMM EM':>7} "
        f"{'/HMM':>5} {'Viterbi ms':>11} {'NumPy':>8} {'x':>6} {'HMM':>6} "
        f"{'/HMM':>5} {'|dll|':>8}",
    ]
    for r in rows:
        out.append(
            f"{r['k']:>3} {r['d']:>4} {r['em_s'] * 1e3:8.1f} "
            f"{r['naive_em_s'] * 1e3:9.0f} {r['naive_em_s'] / r['em_s']:6.0f} "
            f"{r['hmm_em_s'] * 1e3:7.1f} {r['em_s'] / r['hmm_em_s']:5.1f} "
            f"{r['viterbi_s'] * 1e3:11.1f} {r['naive_viterbi_s'] * 1e3:8.0f} "
            f"{r['naive_viterbi_s'] / r['viterbi_s']:6.0f} "
            f"{r['hmm_viterbi_s'] * 1e3:6.1f} "
            f"{r['viterbi_s'] / r['hmm_viterbi_s']:5.1f} {r['ll_difference']:8.1e}"
        )
    out.append(
        "EM: one iteration (E-step, M-step, checks); NumPy EM: its forward-"
        "backward alone; x: NumPy / fasthmm; /HMM: GaussianHSMM / GaussianHMM; "
        "|dll|: log-likelihood difference on the NumPy sequences"
    )
    return out
