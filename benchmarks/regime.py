"""Hamilton's Markov-switching AR(4): ``python -m benchmarks --regime``.

``fasthmm.MarkovSwitchingAR(2, 4, switching_ar=False, start="stationary")``
against statsmodels' ``MarkovAutoregression(k_regimes=2, order=4,
switching_ar=False)`` (the ``[bench]`` extra), the same model, on

- Hamilton's US GNP growth (135 quarters, statsmodels' test data), and
- US GDP growth 1959-2009 (``fasthmm.datasets.load_us_gdp``, 202 quarters),
- a series of 5000 steps drawn from the model fitted to the GDP data.

Timed: the log-likelihood at fixed parameters, one EM iteration (statsmodels'
``_em_iteration``: its smoother and M-step; fasthmm: a fit with ``n_iter=1``
and no initialisation) and a whole fit (fasthmm: EM to a change below 1e-8;
statsmodels: its default ``fit``, 5 EM iterations then BFGS), with the
log-likelihood each fit reaches. Compile time is reported apart: the first
call in this process minus the steady time (kernels loaded from the on-disk
cache when present).
"""

from __future__ import annotations

import time

import numpy as np

LONG = 5000


def _statsmodels():
    try:
        from statsmodels.tsa.regime_switching.markov_autoregression import (
            MarkovAutoregression,
        )
    except ImportError:  # pragma: no cover - the [bench] extra
        raise SystemExit(
            "--regime needs statsmodels: pip install 'fasthmm[bench]'"
        ) from None
    return MarkovAutoregression


def _rgnp():
    from statsmodels.tsa.regime_switching.tests import test_markov_autoregression

    return np.array(test_markov_autoregression.rgnp)


def _series():
    import fasthmm
    from fasthmm.datasets import load_us_gdp

    gdp = load_us_gdp().X[:, 0]
    started = time.perf_counter()
    model = fasthmm.MarkovSwitchingAR(
        2, 4, switching_ar=False, start="stationary", n_iter=2000, tol=1e-8
    ).fit(gdp)
    first_fit = time.perf_counter() - started  # the process's first: compiles
    long = model.sample(LONG, random_state=0)[0][:, 0]
    series = [
        ("GNP 1951-84", _rgnp()),
        ("GDP 1959-2009", gdp),
        (f"sampled {LONG}", long),
    ]
    return series, first_fit


def _to_statsmodels(model):
    """statsmodels' parameter vector of a fitted fasthmm model (k = 2)."""
    p = model.transmat_
    return np.r_[p[0, 0], p[1, 0], model.means_, model.variances_[0], model.ar_coef_[0]]


def run(quick, repeat, log):
    """One row per series, and the first fit's time (compilation)."""
    series, first_fit = _series()
    rows = []
    for name, y in series[: 2 if quick else 3]:
        log(f"regime: {name} ...")
        rows.append(_measure(name, y, repeat))
    return {"rows": rows, "first_fit_s": first_fit}


def _measure(name, y, repeat):
    import warnings

    import fasthmm

    from .suites import time_calls

    sm_model = _statsmodels()(y, k_regimes=2, order=4, switching_ar=False)

    def fit_fast():
        return fasthmm.MarkovSwitchingAR(
            2, 4, switching_ar=False, start="stationary", n_iter=2000, tol=1e-8
        ).fit(y)

    fitted = fit_fast()
    params = _to_statsmodels(fitted)
    one = fasthmm.MarkovSwitchingAR(
        2, 4, switching_ar=False, start="stationary", n_iter=1, init_params=""
    )

    def em_fast():
        for attr in fitted._param_names():
            setattr(one, attr, getattr(fitted, attr))
        return one.fit(y)

    def fit_sm():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return sm_model.fit(disp=False)

    calls = [
        (lambda: fitted.score(y), None),
        (lambda: sm_model.loglike(params), None),
        (em_fast, None),
        (lambda: sm_model._em_iteration(params), None),
        (fit_fast, None),
        (fit_sm, None),
    ]
    times, _, results = time_calls(calls, repeat=repeat)
    med = [float(np.median(t)) for t in times]
    return {
        "series": name,
        "n": len(y),
        "score_s": med[0],
        "sm_score_s": med[1],
        "em_s": med[2],
        "sm_em_s": med[3],
        "fit_s": med[4],
        "sm_fit_s": med[5],
        "iterations": int(results[4].monitor_.iter),
        "llf": float(results[4].score(y)),
        "sm_llf": float(results[5].llf),
        "score_difference": abs(float(results[0]) - float(results[1])),
    }


def lines(out):
    """The report's table."""
    out_lines = [
        "",
        "== Hamilton's Markov-switching AR(4), 2 regimes: MarkovSwitchingAR vs "
        "statsmodels' MarkovAutoregression (x: statsmodels / fasthmm)",
        f"{'series':<16} {'n':>5} {'score ms':>9} {'x':>6} {'EM it ms':>9} {'x':>6} "
        f"{'fit ms':>8} {'sm fit ms':>10} {'x':>6} {'its':>5} {'llf':>11} "
        f"{'sm llf':>11} {'|dll|':>8}",
    ]
    rows = out["rows"]
    for r in rows:
        out_lines.append(
            f"{r['series']:<16} {r['n']:>5} {r['score_s'] * 1e3:9.3f} "
            f"{r['sm_score_s'] / r['score_s']:6.0f} {r['em_s'] * 1e3:9.3f} "
            f"{r['sm_em_s'] / r['em_s']:6.0f} {r['fit_s'] * 1e3:8.1f} "
            f"{r['sm_fit_s'] * 1e3:10.1f} {r['sm_fit_s'] / r['fit_s']:6.0f} "
            f"{r['iterations']:>5} {r['llf']:11.5f} {r['sm_llf']:11.5f} "
            f"{r['score_difference']:8.1e}"
        )
    out_lines.append(
        "score: log-likelihood at the fitted parameters; EM it: one EM iteration; "
        "fit: fasthmm EM to a change below 1e-8 (its: iterations), statsmodels' "
        "default fit (EM then BFGS); llf: what each fit reaches; |dll|: the two "
        "log-likelihoods at the same parameters"
    )
    gdp = next(r for r in rows if r["series"].startswith("GDP"))
    out_lines.append(
        f"compile (or load from the cache) on first use: "
        f"{max(out['first_fit_s'] - gdp['fit_s'], 0.0):.2f} s (the process's first "
        f"fit, GDP, {out['first_fit_s']:.2f} s, minus a steady one)"
    )
    return out_lines
