"""dynamax (JAX, float64): each operation one ``jax.jit``-compiled function of
the parameters over the batch of sequences (``vmap``), compiled by the
untimed first call; timed calls wait for the result (``block_until_ready``).
Priors are flat, so that the M-step of startprob_ and transmat_ is the
maximum-likelihood one, as in fasthmm: Dirichlet concentrations of 1 + 1e-9
rather than exactly 1, whose mode dynamax returns as NaN when an expected count
underflows next to 1 (the start of a single long sequence); the difference
from the maximum-likelihood estimate is below 1e-8."""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import dynamax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from dynamax.hidden_markov_model import CategoricalHMM, DiagonalGaussianHMM  # noqa: E402

VERSION = f"dynamax {dynamax.__version__} (JAX {jax.__version__}, float64, jit)"
FLAT_PRIOR = 1.0 + 1e-9
FLAT = {
    "initial_probs_concentration": FLAT_PRIOR,
    "transition_matrix_concentration": FLAT_PRIOR,
}


def set_threads(n):
    """JAX's CPU backend has its own thread pool over every CPU; XLA has no
    switch for its size other than one thread, which the driver asks for
    (``XLA_FLAGS``, before JAX loads) when fasthmm runs on one thread."""
    import os

    if "intra_op_parallelism_threads=1" in os.environ.get("XLA_FLAGS", ""):
        return "JAX on 1 thread"
    return f"JAX CPU pool over all {os.cpu_count()} CPUs (fasthmm: {n} threads)"


def prepare(kind, params, X, lengths):
    n_seq, k = len(lengths), params["startprob_"].shape[0]
    if np.any(lengths != lengths[0]):
        raise NotImplementedError("this adapter needs sequences of equal length")
    start = {
        "initial_probs": params["startprob_"],
        "transition_matrix": params["transmat_"],
    }
    if kind == "gaussian-diag":
        d = X.shape[1]
        hmm = DiagonalGaussianHMM(k, d, **FLAT)
        p, props = hmm.initialize(
            **start,
            emission_means=params["means_"],
            emission_scale_diags=np.sqrt(params["covars_"]),
        )
    elif kind == "categorical":
        c = params["emissionprob_"].shape[1]
        hmm = CategoricalHMM(k, 1, c, emission_prior_concentration=FLAT_PRIOR, **FLAT)
        p, props = hmm.initialize(
            **start, emission_probs=params["emissionprob_"][:, None]
        )
    else:
        raise NotImplementedError(f"no {kind} model here")
    return hmm, p, props, jnp.asarray(X.reshape(n_seq, -1, X.shape[1]))


def call(model, op):
    hmm, p, props, X = model
    if op == "score":
        fn = lambda p: jax.vmap(lambda x: hmm.marginal_log_prob(p, x))(X).sum()  # noqa: E731
    elif op == "decode":
        fn = lambda p: jax.vmap(lambda x: hmm.most_likely_states(p, x))(X)  # noqa: E731
    elif op == "posteriors":
        fn = lambda p: jax.vmap(lambda x: hmm.smoother(p, x).smoothed_probs)(X)  # noqa: E731
    else:
        fn = lambda p: hmm.fit_em(p, props, X, num_iters=1, verbose=False)[0]  # noqa: E731
    fn = jax.jit(fn)
    return (lambda: jax.block_until_ready(fn(p))), None


def answer(op, out):
    if op == "score":
        return float(out)
    if op == "em":
        return {
            "startprob_": np.asarray(out.initial.probs),
            "transmat_": np.asarray(out.transitions.transition_matrix),
        }
    out = np.asarray(out)
    return out.reshape(-1, *out.shape[2:])
