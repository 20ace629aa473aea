"""Switching regressions: ``python -m benchmarks --switching``.

One EM iteration of ``RegressionHMM`` (2 inputs) and ``ARHMM`` (orders 1
and 2, no inputs) against ``GaussianHMM`` on the same data: 100 sequences x
1000 steps, 2 features, full covariances, K in {4, 16}. The regressions
run the same forward-backward kernel on their own log-emissions; what they
add is a residual per state in the log-emissions, the moments of
[regressors, observations] instead of the observations' in the E-step, and
a small least-squares solve per state in the M-step.
"""

from __future__ import annotations

import numpy as np

N_SEQ, N_STEPS, N_FEATURES, N_INPUTS = 100, 1000, 2, 2
KS = (4, 16)
QUICK_KS = (4,)


def _chain(rng, k):
    return {
        "startprob_": rng.dirichlet(np.ones(k)),
        "transmat_": 0.5 * np.eye(k) + 0.5 * rng.dirichlet(np.ones(k), size=k),
    }


def _models(k, seed=0):
    """(name, model, inputs or None) for every model timed, parameters set."""
    import fasthmm

    rng = np.random.default_rng(seed)
    chain = _chain(rng, k)
    cov = np.tile(np.eye(N_FEATURES), (k, 1, 1))
    icpt = rng.normal(scale=2.0, size=(k, N_FEATURES))
    out = []
    hmm = fasthmm.GaussianHMM(k, covariance_type="full", n_iter=1, init_params="")
    out.append(("GaussianHMM", hmm, {**chain, "means_": icpt, "covars_": cov}))
    reg = fasthmm.RegressionHMM(k, n_iter=1, init_params="")
    coef = rng.normal(scale=0.5, size=(k, N_FEATURES, N_INPUTS))
    out.append(
        (
            "RegressionHMM",
            reg,
            {**chain, "coef_": coef, "intercept_": icpt, "covars_": cov},
        )
    )
    for order in (1, 2):
        ar = fasthmm.ARHMM(k, order=order, n_iter=1, init_params="")
        coef = rng.normal(scale=0.2, size=(k, N_FEATURES, order * N_FEATURES))
        params = {**chain, "coef_": coef, "intercept_": icpt, "covars_": cov}
        out.append((f"ARHMM order {order}", ar, params))
    return out


def _fit_once(model, params, X, lengths, inputs):
    def call():  # from the same parameters every time
        for name, value in params.items():
            setattr(model, name, value)
        return model.fit(X, lengths, inputs=inputs)

    return call


def run(quick, repeat, log):
    """Rows of the table: one per K."""
    from .suites import time_calls

    rows = []
    rng = np.random.default_rng(1)
    X = rng.standard_normal((N_SEQ * N_STEPS, N_FEATURES))
    U = rng.standard_normal((N_SEQ * N_STEPS, N_INPUTS))
    lengths = [N_STEPS] * N_SEQ
    for k in QUICK_KS if quick else KS:
        log(f"switching: K={k} ...")
        models = _models(k)
        calls = [
            (
                _fit_once(m, p, X, lengths, U if name == "RegressionHMM" else None),
                None,
            )
            for name, m, p in models
        ]
        times, _, _ = time_calls(calls, repeat=repeat)
        med = {name: float(np.median(t)) for (name, _, _), t in zip(models, times)}
        rows.append({"k": k, "em_s": med})
    return rows


def lines(rows):
    """The report's table."""
    if not rows:
        return []
    names = list(rows[0]["em_s"])
    out = [
        "",
        f"== switching regressions: one EM iteration, {N_SEQ} x {N_STEPS} steps, "
        f"{N_FEATURES} features, full covariances (RegressionHMM: "
        f"{N_INPUTS} inputs)",
        f"{'K':>3} " + " ".join(f"{n + ' ms':>18} {'/HMM':>5}" for n in names),
    ]
    for r in rows:
        base = r["em_s"][names[0]]
        out.append(
            f"{r['k']:>3} "
            + " ".join(
                f"{r['em_s'][n] * 1e3:18.1f} {r['em_s'][n] / base:5.2f}" for n in names
            )
        )
    out.append("/HMM: time / GaussianHMM's on the same data")
    return out
