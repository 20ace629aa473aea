"""Write the hmmlearn pickle fixtures of tests/test_hmmlearn_parity.py.

Run with the hmmlearn version to record (see README.md)::

    python tests/data/make_hmmlearn_pickles.py

Writes ``hmmlearn-<version>-<model>.pkl`` (the pickled, fitted hmmlearn
model) and a ``.npz`` beside it with the data it was fitted on and hmmlearn's
own ``score`` and Viterbi log-probability on it.
"""

import pathlib
import pickle

import hmmlearn
import numpy as np
from hmmlearn import hmm

HERE = pathlib.Path(__file__).parent


def main():
    rng = np.random.RandomState(0)
    states = (np.arange(60) // 15) % 2
    X = rng.normal(size=(60, 2)) + 3.0 * states[:, None]
    counts = rng.poisson(1.0 + 4.0 * states[:, None], size=(60, 2))
    models = {
        "GaussianHMM-diag": (hmm.GaussianHMM(2, "diag", n_iter=5, random_state=0), X),
        "PoissonHMM": (hmm.PoissonHMM(2, n_iter=5, random_state=0), counts),
    }
    for name, (model, data) in models.items():
        model.fit(data)
        stem = f"hmmlearn-{hmmlearn.__version__}-{name}"
        (HERE / f"{stem}.pkl").write_bytes(pickle.dumps(model, protocol=4))
        np.savez(
            HERE / f"{stem}.npz",
            X=data,
            score=model.score(data),
            logprob=model.decode(data)[0],
        )
        print("wrote", stem)


if __name__ == "__main__":
    main()
