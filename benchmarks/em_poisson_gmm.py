"""One EM iteration of PoissonHMM and GMMHMM: fasthmm against hmmlearn 0.3.3.

Workload (issue 6): 100 sequences x 1000 steps, 16 states, 8 features;
Poisson with rates in [1, 10]; GMM with 2 diagonal components per state. Both
libraries fit with ``n_iter=1, init_params=""`` from the same parameters; a
fit also validates and (hmmlearn's GMMHMM) runs k-means in ``_init`` even with
``init_params=""``, so the EM iteration alone is reported too, as
``fit(n_iter=1) - fit(n_iter=0)``. Medians of ``--repeat`` runs after one
warm-up run (which includes Numba compilation or loading from the cache).
The parameters after the iteration are compared; GMM covariances differ
because hmmlearn centres its covariance statistics on the previous means (see
the GMMHMM docstring).

    python -m benchmarks.em_poisson_gmm [--repeat 3] [--threads N]
"""

import argparse
import logging
import os
import platform
import statistics
import time
import warnings

import numpy as np

N_SEQ, N_STEPS, K, D, N_MIX = 100, 1000, 16, 8, 2
SEED = 0


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def dgemm_gflops(repeat=5):
    """Throughput of a 1024 x 1024 float64 matmul (best of ``repeat``)."""
    rng = np.random.default_rng(SEED)
    a, b = rng.random((1024, 1024)), rng.random((1024, 1024))
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeat))
    return 2.0 * 1024**3 / best / 1e9


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def poisson_problem(rng):
    lambdas = rng.uniform(1.0, 10.0, (K, D))
    start = rng.dirichlet(np.ones(K))
    trans = 0.8 * np.eye(K) + 0.2 * rng.dirichlet(np.ones(K), K)
    states = _states(rng, start, trans)
    X = rng.poisson(lambdas[states]).astype(np.int64)
    init = {
        "startprob_": np.full(K, 1.0 / K),
        "transmat_": np.full((K, K), 1.0 / K),
        "lambdas_": lambdas * rng.uniform(0.7, 1.3, lambdas.shape),
    }
    return X, init


def gmm_problem(rng):
    weights = rng.dirichlet(np.ones(N_MIX) * 5, K)
    means = rng.normal(0.0, 3.0, (K, N_MIX, D))
    covars = rng.uniform(0.5, 2.0, (K, N_MIX, D))
    start = rng.dirichlet(np.ones(K))
    trans = 0.8 * np.eye(K) + 0.2 * rng.dirichlet(np.ones(K), K)
    states = _states(rng, start, trans)
    u = rng.random(states.shape[0])
    mix = (np.cumsum(weights, axis=1)[states] < u[:, None]).sum(axis=1)
    mix = np.minimum(mix, N_MIX - 1)
    X = means[states, mix] + np.sqrt(covars[states, mix]) * rng.standard_normal(
        (states.shape[0], D)
    )
    init = {
        "startprob_": np.full(K, 1.0 / K),
        "transmat_": np.full((K, K), 1.0 / K),
        "weights_": np.full((K, N_MIX), 1.0 / N_MIX),
        "means_": means + rng.normal(0.0, 0.5, means.shape),
        "covars_": covars * rng.uniform(0.8, 1.25, covars.shape),
    }
    return X, init


def _states(rng, start, trans):
    n = N_SEQ * N_STEPS
    states = np.empty(n, dtype=np.int64)
    cum_t = np.cumsum(trans, axis=1)
    u = rng.random(n)
    for i in range(n):
        if i % N_STEPS == 0:
            states[i] = min(np.searchsorted(np.cumsum(start), u[i]), K - 1)
        else:
            states[i] = min(np.searchsorted(cum_t[states[i - 1]], u[i]), K - 1)
    return states


def make_fit(cls, init, X, lengths, n_iter, tol, **kwargs):
    def run():
        model = cls(K, n_iter=n_iter, tol=tol, init_params="", **kwargs)
        for name, value in init.items():
            setattr(model, name, value.copy())
        model.fit(X, lengths)
        return model

    return run


def _rel_diff(a, b):
    return float(np.max(np.abs(a - b) / (1.0 + np.abs(b))))


def median_time(fn, repeat):
    fn()  # warm-up
    return statistics.median(_timed(fn) for _ in range(repeat))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)

    import numba

    import fasthmm

    if args.threads:
        numba.set_num_threads(args.threads)
    logging.getLogger("hmmlearn").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    from hmmlearn import hmm

    print(f"CPU: {cpu_model()}; os.cpu_count() = {os.cpu_count()}")
    print(
        f"numba threads: {numba.get_num_threads()}; dgemm: {dgemm_gflops():.1f} GFLOP/s"
    )
    print(
        f"workload: {N_SEQ} sequences x {N_STEPS} steps, K={K}, {D} features; "
        f"median of {args.repeat} after a warm-up\n"
    )
    lengths = np.full(N_SEQ, N_STEPS)
    rng = np.random.default_rng(SEED)
    problems = {
        "Poisson": (poisson_problem(rng), "PoissonHMM", {}),
        f"GMM diag n_mix={N_MIX}": (
            gmm_problem(rng),
            "GMMHMM",
            {"n_mix": N_MIX, "covariance_type": "diag"},
        ),
    }
    header = f"{'model':<18} {'library':<9} {'fit n_iter=1':>13} {'EM iteration':>13}"
    print(header)
    print("-" * len(header))
    for label, ((X, init), cls_name, kwargs) in problems.items():
        times = {}
        for lib, module, tol in (("fasthmm", fasthmm, 0.0), ("hmmlearn", hmm, -np.inf)):
            cls = getattr(module, cls_name)
            one = median_time(
                make_fit(cls, init, X, lengths, 1, tol, **kwargs), args.repeat
            )
            zero = median_time(
                make_fit(cls, init, X, lengths, 0, tol, **kwargs), args.repeat
            )
            times[lib] = (one, one - zero)
            print(f"{label:<18} {lib:<9} {one:>12.3f}s {one - zero:>12.3f}s")
        fit_ratio = times["hmmlearn"][0] / times["fasthmm"][0]
        em_ratio = times["hmmlearn"][1] / times["fasthmm"][1]
        print(f"{label:<18} {'speed-up':<9} {fit_ratio:>12.1f}x {em_ratio:>12.1f}x")
        a = make_fit(getattr(fasthmm, cls_name), init, X, lengths, 1, 0.0, **kwargs)()
        b = make_fit(getattr(hmm, cls_name), init, X, lengths, 1, -np.inf, **kwargs)()
        names = ["transmat_"] + [
            n for n in init if n not in ("startprob_", "transmat_")
        ]
        diffs = ", ".join(
            f"{n} {_rel_diff(getattr(a, n), getattr(b, n)):.1e}" for n in names
        )
        print(f"{label:<18} max relative difference after 1 iteration: {diffs}\n")


if __name__ == "__main__":
    main()
