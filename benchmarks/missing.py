"""Missing observations: ``python -m benchmarks --missing``.

Time per EM iteration of ``fit`` (``n_iter`` fixed, ``tol=-inf``) of a
GaussianHMM (diag and full, D=4) and a CategoricalHMM (32 symbols), K=4, on
the same data:

* ``missing="raise"`` on complete data: the path every fit took before
  missing observations were supported (no NaN: nothing is added);
* ``missing="marginalize"`` on the same complete data: must cost the same
  (NaN is found in the check's existing scan; without it, the same path);
* ``missing="marginalize"`` with 25% of the rows missing (all NaN) at random:
  a missing row costs no more than an observed one;
* for the Gaussians, 25% of the rows partly observed (one entry NaN, four
  patterns): the marginal densities and, for "full", the conditional moments
  of the missing entries.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

import fasthmm

K, D, N_SYMBOLS = 4, 4, 32
N_ROWS, N_SEQ, N_ITER = 100_000, 20, 5
QUICK_ROWS = 20_000
MISSING_FRACTION = 0.25


def _data(kind, n, rng):
    if kind == "categorical":
        return rng.integers(0, N_SYMBOLS, size=(n, 1)).astype(float)
    X = rng.standard_normal((n, D))
    X[: n // 2] += 2.0
    return X


def _fit_time(make, X, lengths, repeat):
    times = []
    for _ in range(repeat):
        model = make()
        start = time.perf_counter()
        model.fit(X, lengths)
        times.append((time.perf_counter() - start) / N_ITER)
    return statistics.median(times)


def run(quick, repeat, log):
    """Rows of (model, data, missing, seconds per EM iteration)."""
    n = QUICK_ROWS if quick else N_ROWS
    lengths = [n // N_SEQ] * N_SEQ
    rng = np.random.default_rng(0)
    rows = []
    for label, kind, options in (
        ("GaussianHMM diag", "gaussian", {"covariance_type": "diag"}),
        ("GaussianHMM full", "gaussian", {"covariance_type": "full"}),
        ("CategoricalHMM", "categorical", {"n_features": N_SYMBOLS}),
    ):
        cls = fasthmm.CategoricalHMM if kind == "categorical" else fasthmm.GaussianHMM
        X = _data(kind, n, rng)
        # EM alone is timed: every fit starts from the same parameters
        first = cls(K, n_iter=1, random_state=0, **options).fit(X[:5000])
        start = first._current_params()
        gone = rng.random(n) < MISSING_FRACTION
        cases = [("complete", "raise", X), ("complete", "marginalize", X)]
        whole = X.copy()
        whole[gone] = np.nan
        cases.append(("25% rows missing", "marginalize", whole))
        if kind == "gaussian":
            part = X.copy()
            part[np.flatnonzero(gone), rng.integers(0, D, gone.sum())] = np.nan
            cases.append(("25% rows partly missing", "marginalize", part))
        for data_label, missing, data in cases:
            log(f"measuring {label}, {data_label}, missing={missing!r} ...")

            def make(missing=missing, start=start, cls=cls, options=options):
                model = cls(
                    K,
                    n_iter=N_ITER,
                    tol=-np.inf,
                    init_params="",
                    missing=missing,
                    **options,
                )
                for name, value in start.items():
                    setattr(model, name, value)
                return model

            make().fit(data[:2000], [1000, 1000])  # compile outside the timing
            seconds = _fit_time(make, data, lengths, repeat)
            rows.append(
                {
                    "model": label,
                    "data": data_label,
                    "missing": missing,
                    "rows": n,
                    "s_per_iter": seconds,
                }
            )
    return rows


def lines(rows):
    """The report's section."""
    if not rows:
        return []
    out = [
        "",
        f"Missing observations: fit, K={K}, {rows[0]['rows']} rows, "
        f"seconds per EM iteration (median)",
        f"{'model':<18} {'data':<24} {'missing':<12} {'s/iter':>9} {'vs raise':>9}",
    ]
    base = {}
    for r in rows:
        if r["missing"] == "raise":
            base[r["model"]] = r["s_per_iter"]
        ratio = r["s_per_iter"] / base[r["model"]]
        out.append(
            f"{r['model']:<18} {r['data']:<24} {r['missing']:<12} "
            f"{r['s_per_iter']:>9.4f} {ratio:>8.2f}x"
        )
    return out
