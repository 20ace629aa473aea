"""Missing observations in a stream: ``python -m benchmarks.missing_stream``.

Microseconds per ``stream.push`` of one observation (median of ``--repeat``
runs of 3000 pushes) for a diagonal GaussianHMM (K=3, D=2) and a
CategoricalHMM (K=3, 4 symbols), both with ``missing="marginalize"``: an
observed row, a row with nothing observed (NaN: a row of log-emissions 0)
and, for the Gaussian, a row with one entry missing (the marginal density,
through the diagonal Gaussian's one-observation kernel with the terms of the
observed features, kept per pattern).
"""

import argparse
import statistics
import time

import numpy as np

import fasthmm

N_PUSHES = 3000


def _per_push(stream, x, repeat):
    stream.push(x)  # compiled outside the timing
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(N_PUSHES):
            stream.push(x)
        times.append((time.perf_counter() - start) / N_PUSHES)
    return statistics.median(times) * 1e6


def run(repeat=5):
    """Rows of (model, observation, microseconds per push)."""
    rng = np.random.default_rng(0)
    gaussian = fasthmm.GaussianHMM(3, random_state=0, missing="marginalize")
    gaussian.fit(rng.standard_normal((500, 2)))
    categorical = fasthmm.CategoricalHMM(3, random_state=0, missing="marginalize")
    categorical.fit(rng.integers(0, 4, (500, 1)))
    cases = [
        ("GaussianHMM diag", gaussian, "observed", rng.standard_normal(2)),
        ("GaussianHMM diag", gaussian, "nothing observed", np.full(2, np.nan)),
        ("GaussianHMM diag", gaussian, "one entry missing", np.array([0.3, np.nan])),
        ("CategoricalHMM", categorical, "observed", 2),
        ("CategoricalHMM", categorical, "nothing observed", np.nan),
    ]
    return [
        (label, what, _per_push(model.stream(lag=2), x, repeat))
        for label, model, what, x in cases
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"{'model':<18} {'observation':<20} {'us/push':>8}")
    for label, what, us in run(args.repeat):
        print(f"{label:<18} {what:<20} {us:8.1f}")


if __name__ == "__main__":
    main()
