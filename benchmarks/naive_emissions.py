"""Log-emission matrices with plain NumPy, for the naive implementation.

Each function takes the observations ``X`` and a dict of hmmlearn-style
parameters and returns ``log p(x_t | z_t = k)``, shape (n_samples, K). Written
from the textbook densities, sharing no code with fasthmm, so that the naive
results also cross-check fasthmm's emissions.
"""

from __future__ import annotations

import math

import numpy as np

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_diag(X, params):
    means, var = params["means_"], params["covars_"]  # (K, D), (K, D)
    d = means.shape[1]
    out = np.empty((X.shape[0], means.shape[0]))
    for k in range(means.shape[0]):
        maha = np.sum((X - means[k]) ** 2 / var[k], axis=1)
        out[:, k] = -0.5 * (d * LOG_2PI + np.sum(np.log(var[k])) + maha)
    return out


def gaussian_full(X, params):
    means, covars = params["means_"], params["covars_"]  # (K, D), (K, D, D)
    n, d = X.shape
    out = np.empty((n, means.shape[0]))
    for k in range(means.shape[0]):
        chol = np.linalg.cholesky(covars[k])
        z = np.linalg.solve(chol, (X - means[k]).T)  # (D, n)
        log_det = 2.0 * np.sum(np.log(np.diag(chol)))
        out[:, k] = -0.5 * (d * LOG_2PI + log_det + np.sum(z * z, axis=0))
    return out


def categorical(X, params):
    with np.errstate(divide="ignore"):
        log_prob = np.log(params["emissionprob_"])  # (K, M)
    return log_prob[:, np.asarray(X).reshape(-1)].T


def poisson(X, params):
    lam = params["lambdas_"]  # (K, D)
    X = np.asarray(X, dtype=np.int64)
    log_fact = np.array([math.lgamma(v + 1.0) for v in range(int(X.max()) + 1)])
    return (
        X @ np.log(lam).T - lam.sum(axis=1)[None, :] - log_fact[X].sum(axis=1)[:, None]
    )


def gmm_diag(X, params):
    w, means, var = params["weights_"], params["means_"], params["covars_"]
    k, n_mix, d = means.shape
    comp = np.empty((X.shape[0], k, n_mix))
    for m in range(n_mix):
        p = {"means_": means[:, m], "covars_": var[:, m]}
        comp[:, :, m] = gaussian_diag(X, p) + np.log(w[:, m])[None, :]
    top = comp.max(axis=2, keepdims=True)
    return np.log(np.exp(comp - top).sum(axis=2)) + top[:, :, 0]
