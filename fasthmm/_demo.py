"""The demo of ``fasthmm demo`` (also ``python -m fasthmm demo``).

The demo draws sequences from a known Gaussian HMM and a known categorical HMM,
fits a fresh model to each, and prints the fitted parameters, the EM objective
per iteration, and a stretch of decoded states next to the true ones.
"""

import itertools
import time

import numpy as np

from .models import CategoricalHMM, GaussianHMM


def _best_permutation(true_states, decoded, k):
    """Relabel decoded states to match the true ones (EM's labels are arbitrary)."""
    best, best_hits = None, -1
    for perm in itertools.permutations(range(k)):
        hits = int(np.sum(np.asarray(perm)[decoded] == true_states))
        if hits > best_hits:
            best, best_hits = np.asarray(perm), hits
    return best


def _report(name, truth, model, X, lengths, states):
    print(f"\n=== {name} ===")
    t0 = time.perf_counter()
    model.fit(X, lengths)
    fit_time = time.perf_counter() - t0
    hist = model.monitor_.history
    print(
        f"fit: {model.monitor_.iter} EM iterations in {fit_time:.2f} s "
        f"(first call includes Numba compilation unless cached), "
        f"converged={model.monitor_.converged}"
    )
    print("EM objective per iteration:")
    shown = [f"{v:.2f}" for v in hist]
    if len(shown) > 12:
        shown = shown[:8] + ["..."] + shown[-3:]
    print("  " + "  ".join(shown))
    _, decoded = model.decode(X, lengths)
    perm = _best_permutation(states, decoded, model.n_components)
    decoded = perm[decoded]
    inverse = np.argsort(perm)
    np.set_printoptions(precision=3, suppress=True)
    print("fitted startprob_ (true state order):", model.startprob_[inverse])
    print("fitted transmat_ (true state order):")
    print(model.transmat_[np.ix_(inverse, inverse)])
    for name_ in ("means_", "covars_", "emissionprob_"):
        if hasattr(model, name_):
            print(f"fitted {name_} (true state order):")
            print(
                getattr(model, name_)[inverse]
                if name_ != "covars_" or model.covariance_type != "tied"
                else getattr(model, name_)
            )
    print(
        f"log-likelihood: fitted model {model.score(X, lengths):.2f}, "
        f"true model {truth.score(X, lengths):.2f}"
    )
    accuracy = float(np.mean(decoded == states))
    print(f"Viterbi accuracy against the true states: {accuracy:.3f}")
    print("true    :", "".join(map(str, states[:60])))
    print("decoded :", "".join(map(str, decoded[:60])))


def demo(seed=0):
    """Fit a GaussianHMM and a CategoricalHMM on sequences drawn from known models."""
    rng = np.random.RandomState(seed)
    lengths = [500] * 20

    gauss = GaussianHMM(3, covariance_type="diag")
    gauss.startprob_ = np.array([0.6, 0.3, 0.1])
    gauss.transmat_ = np.array(
        [[0.90, 0.07, 0.03], [0.05, 0.90, 0.05], [0.04, 0.06, 0.90]]
    )
    gauss.means_ = np.array([[0.0, 0.0], [3.0, -2.0], [-3.0, 2.5]])
    gauss.covars_ = np.array([[1.0, 0.5], [0.6, 1.2], [1.5, 0.8]])
    parts = [gauss.sample(n, random_state=rng) for n in lengths]
    X = np.concatenate([p[0] for p in parts])
    Z = np.concatenate([p[1] for p in parts])
    _report(
        "GaussianHMM (diag, 3 states, 2 features)",
        gauss,
        GaussianHMM(3, covariance_type="diag", n_iter=100, tol=1e-4, random_state=seed),
        X,
        lengths,
        Z,
    )

    cat = CategoricalHMM(2)
    cat.startprob_ = np.array([0.5, 0.5])
    cat.transmat_ = np.array([[0.95, 0.05], [0.10, 0.90]])
    cat.emissionprob_ = np.array([[0.5, 0.3, 0.1, 0.1], [0.05, 0.15, 0.3, 0.5]])
    parts = [cat.sample(n, random_state=rng) for n in lengths]
    X = np.concatenate([p[0] for p in parts])
    Z = np.concatenate([p[1] for p in parts])
    _report(
        "CategoricalHMM (2 states, 4 symbols)",
        cat,
        CategoricalHMM(2, n_iter=200, tol=1e-4, random_state=seed),
        X,
        lengths,
        Z,
    )
