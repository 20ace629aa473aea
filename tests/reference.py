"""Independent, plainly written NumPy references: the one reference module of
the test suite.

The references never call fasthmm (only :func:`run_e_step` does, to wire up
the E-step under test). Three references of decreasing cost:

- brute force: enumerate all K**T state paths of a sequence;
- log space: forward / backward / Viterbi recursions in log space, a Python
  loop over time vectorised over states;
- product tree: the likelihood of a very long sequence as a product of
  per-step matrices, reduced pairwise (no recursion over time in Python).

Emission log-likelihoods (categorical, Gaussian through full matrices,
``slogdet`` and ``solve`` whatever the covariance type) are computed from a
model's parameters with NumPy alone; random parameters (stochastic rows,
SPD matrices, covariances in hmmlearn's shapes) are drawn here too.

Zeros in startprob / transmat are handled as log 0 = -inf without producing
NaN; -inf log-emissions are allowed.
"""

import itertools

import numpy as np

NEG_INF = -np.inf
LOG_2PI = np.log(2.0 * np.pi)


def safe_log(a):
    """``np.log`` mapping 0 to -inf without a warning."""
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(a, dtype=np.float64))


def logsumexp(a, axis=None):
    """``log(sum(exp(a)))``, stable, giving -inf (never NaN) for all -inf input."""
    a = np.asarray(a, dtype=np.float64)
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore", under="ignore"):
        out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    if axis is None:
        return float(out.reshape(()))
    return np.squeeze(out, axis=axis)


def split(lengths, n_samples):
    """Row ranges ``(lo, hi)`` of the sequences of a batch."""
    if lengths is None:
        lengths = [n_samples]
    bounds = np.concatenate(([0], np.cumsum(lengths))).astype(int)
    assert bounds[-1] == n_samples
    return list(zip(bounds[:-1], bounds[1:]))


def path_score(log_emissions, startprob, transmat, path):
    """Log joint probability ``log p(x, z = path)`` of one sequence."""
    path = np.asarray(path, dtype=np.int64)
    le = np.asarray(log_emissions, dtype=np.float64)
    score = safe_log(startprob)[path[0]] + le[0, path[0]]
    if path.size > 1:
        score = score + np.sum(safe_log(transmat)[path[:-1], path[1:]])
        score = score + np.sum(le[np.arange(1, path.size), path[1:]])
    return float(score)


# --------------------------------------------------------------------------
# Brute force
# --------------------------------------------------------------------------


def all_path_scores(log_emissions, startprob, transmat):
    """Scores of every state path of one sequence.

    Returns
    -------
    paths : ndarray of shape (K**T, T), int64
    scores : ndarray of shape (K**T,)
    """
    le = np.asarray(log_emissions, dtype=np.float64)
    t, k = le.shape
    paths = np.array(list(itertools.product(range(k), repeat=t)), dtype=np.int64)
    # Every path at once, term by term as in path_score.
    scores = safe_log(startprob)[paths[:, 0]] + le[0, paths[:, 0]]
    if t > 1:
        scores = scores + np.sum(
            safe_log(transmat)[paths[:, :-1], paths[:, 1:]], axis=1
        )
        scores = scores + np.sum(le[np.arange(1, t), paths[:, 1:]], axis=1)
    return paths, scores


def brute_force(log_emissions, startprob, transmat):
    """Exact quantities of one sequence by enumeration of all paths.

    Returns
    -------
    dict with
        ``ll``: log p(x) (``-inf`` if impossible);
        ``posteriors``: (T, K) p(z_t | x) (``None`` if impossible);
        ``xi``: (K, K) expected transition counts (absent if impossible);
        ``filtered``: (T, K) p(z_t | x_1..x_t) (``None`` if impossible);
        ``best``: max over paths of log p(x, z);
        ``paths``, ``scores``: every path and its score.
    """
    le = np.asarray(log_emissions, dtype=np.float64)
    t, k = le.shape
    paths, scores = all_path_scores(le, startprob, transmat)
    ll = logsumexp(scores)
    out = {"ll": ll, "best": float(np.max(scores)), "paths": paths, "scores": scores}
    if not np.isfinite(ll):
        out["posteriors"] = out["filtered"] = None
        return out
    w = np.exp(scores - ll)
    post = np.zeros((t, k))
    for s in range(t):
        np.add.at(post[s], paths[:, s], w)
    out["posteriors"] = post
    xi = np.zeros((k, k))
    for s in range(t - 1):
        np.add.at(xi, (paths[:, s], paths[:, s + 1]), w)
    out["xi"] = xi
    filt = np.zeros((t, k))
    for s in range(t):
        prefix_paths, prefix_scores = all_path_scores(le[: s + 1], startprob, transmat)
        lp = logsumexp(prefix_scores)
        np.add.at(filt[s], prefix_paths[:, s], np.exp(prefix_scores - lp))
    out["filtered"] = filt
    return out


def segmentations(n, k, dmax, prev=-1):
    """Every list of (state, duration) covering n steps, no state twice in a row."""
    if n == 0:
        yield []
        return
    for j in range(k):
        if j == prev:
            continue
        for d in range(1, min(dmax, n) + 1):
            for rest in segmentations(n - d, k, dmax, j):
                yield [(j, d)] + rest


def segmentation_score(le, startprob, transmat, pmf, seg):
    """log p(x, segmentation) of one sequence: the last segment right-censored
    (its factor is P(duration >= observed))."""
    surv = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]
    lp, t = safe_log(startprob[seg[0][0]]), 0
    for m, (j, d) in enumerate(seg):
        lp += le[t : t + d, j].sum()
        last = m == len(seg) - 1
        lp += safe_log(surv[j, d - 1] if last else pmf[j, d - 1])
        if not last:
            lp += safe_log(transmat[j, seg[m + 1][0]])
        t += d
    return lp


def runs(path):
    """The (state, duration) runs of a state path."""
    path = np.asarray(path)
    cut = np.flatnonzero(np.diff(path)) + 1
    bounds = np.concatenate([[0], cut, [len(path)]])
    return [(int(path[a]), int(b - a)) for a, b in zip(bounds[:-1], bounds[1:])]


def semi_markov_path_score(le, startprob, transmat, pmf, path):
    """log p(x, z = path) of one sequence under a semi-Markov chain (``-inf``
    when a run is longer than ``pmf.shape[1]``)."""
    seg = runs(path)
    if max(d for _, d in seg) > pmf.shape[1]:
        return -np.inf
    return segmentation_score(np.asarray(le, float), startprob, transmat, pmf, seg)


# --------------------------------------------------------------------------
# Log-space recursions
# --------------------------------------------------------------------------


def log_forward(log_emissions, startprob, transmat):
    """Log-space forward pass of one sequence.

    Returns
    -------
    ll : float
    log_alpha : ndarray of shape (T, K), ``log p(x_1..x_t, z_t)``
    """
    le = np.asarray(log_emissions, dtype=np.float64)
    log_t = safe_log(transmat)
    la = np.empty_like(le)
    la[0] = safe_log(startprob) + le[0]
    for s in range(1, le.shape[0]):
        la[s] = logsumexp(la[s - 1][:, None] + log_t, axis=0) + le[s]
    return logsumexp(la[-1]), la


def log_backward(log_emissions, transmat):
    """Log-space backward pass: ``log p(x_{t+1}..x_T | z_t)``, shape (T, K)."""
    le = np.asarray(log_emissions, dtype=np.float64)
    log_t = safe_log(transmat)
    lb = np.zeros_like(le)
    for s in range(le.shape[0] - 2, -1, -1):
        lb[s] = logsumexp(log_t + (le[s + 1] + lb[s + 1])[None, :], axis=1)
    return lb


def log_forward_backward(log_emissions, startprob, transmat):
    """Log-likelihood, posteriors and filtered probabilities of one sequence.

    Posteriors and filtered rows are ``None`` when the sequence is impossible.
    """
    ll, la = log_forward(log_emissions, startprob, transmat)
    if not np.isfinite(ll):
        return ll, None, None
    lb = log_backward(log_emissions, transmat)
    post = np.exp(la + lb - ll)
    filt = np.exp(la - logsumexp(la, axis=1)[:, None])
    return ll, post, filt


def log_transition_counts(log_emissions, startprob, transmat):
    """Expected transition counts ``sum_t p(z_t = i, z_t+1 = j | x)``, (K, K)."""
    le = np.asarray(log_emissions, dtype=np.float64)
    ll, la = log_forward(le, startprob, transmat)
    lb = log_backward(le, transmat)
    log_t = safe_log(transmat)
    k = le.shape[1]
    xi = np.zeros((k, k))
    for s in range(le.shape[0] - 1):
        lx = la[s][:, None] + log_t + (le[s + 1] + lb[s + 1])[None, :] - ll
        with np.errstate(under="ignore"):
            xi += np.exp(lx)
    return xi


def scaled_forward_in_range(
    log_emissions, startprob, transmat, lengths=None, floor=-690.0
):
    """Whether a scaled (probability-space) forward pass stays within float64.

    True when, for every possible sequence, every non-zero filtered probability
    p(z_t | x_1..x_t) and every per-step normaliser
    ``p(x_t | x_1..x_t-1) / exp(max_k log_emissions[t, k])`` exceeds
    ``exp(floor)``. Outside that range a scaled forward pass must lose mass
    to underflow (a log-space one need not).
    """
    le = np.asarray(log_emissions, dtype=np.float64)
    for lo, hi in split(lengths, le.shape[0]):
        ll, la = log_forward(le[lo:hi], startprob, transmat)
        if not np.isfinite(ll):
            continue
        lse = logsumexp(la, axis=1)
        lf = la - lse[:, None]
        if np.any(lf[np.isfinite(lf)] < floor):
            return False
        log_c = np.diff(np.concatenate(([0.0], lse))) - le[lo:hi].max(axis=1)
        if np.any(log_c < floor):
            return False
    return True


def log_viterbi(log_emissions, startprob, transmat):
    """Best path score and one best path of one sequence, in log space."""
    le = np.asarray(log_emissions, dtype=np.float64)
    log_t = safe_log(transmat)
    n, k = le.shape
    delta = safe_log(startprob) + le[0]
    back = np.zeros((n, k), dtype=np.int64)
    for s in range(1, n):
        cand = delta[:, None] + log_t
        back[s] = np.argmax(cand, axis=0)
        delta = cand[back[s], np.arange(k)] + le[s]
    path = np.empty(n, dtype=np.int64)
    path[-1] = int(np.argmax(delta))
    for s in range(n - 1, 0, -1):
        path[s - 1] = back[s, path[s]]
    return float(delta[path[-1]]), path


def batch_reference(log_emissions, startprob, transmat, lengths=None):
    """Log-space reference over a batch.

    Returns
    -------
    dict with per-sequence ``ll`` and ``best`` (lists), (T, K)
    ``posteriors`` / ``filtered`` (NaN rows for impossible sequences) and the
    (K, K) expected transition counts ``xi`` summed over possible sequences.
    """
    le = np.asarray(log_emissions, dtype=np.float64)
    out = {"ll": [], "best": [], "posteriors": np.full(le.shape, np.nan)}
    out["filtered"] = np.full(le.shape, np.nan)
    for lo, hi in split(lengths, le.shape[0]):
        ll, post, filt = log_forward_backward(le[lo:hi], startprob, transmat)
        best, _ = log_viterbi(le[lo:hi], startprob, transmat)
        out["ll"].append(ll)
        out["best"].append(best)
        if post is not None:
            out["posteriors"][lo:hi] = post
            out["filtered"][lo:hi] = filt
            out["xi"] = out.get("xi", 0.0) + log_transition_counts(
                le[lo:hi], startprob, transmat
            )
    return out


def batch_path_score(log_emissions, startprob, transmat, states, lengths=None):
    """Sum over the sequences of a batch of ``log p(x, z = states)``."""
    le = np.asarray(log_emissions, dtype=np.float64)
    return sum(
        path_score(le[lo:hi], startprob, transmat, states[lo:hi])
        for lo, hi in split(lengths, le.shape[0])
    )


def batch_forward_backward(log_emissions, startprob, transmat, lengths=None):
    """Log-likelihood summed over the sequences of a batch, and posteriors.

    Returns
    -------
    log_likelihood : float (``-inf`` if a sequence is impossible)
    posteriors : ndarray of shape (n_samples, n_components), NaN rows for
        impossible sequences
    """
    le = np.asarray(log_emissions, dtype=np.float64)
    post = np.full(le.shape, np.nan)
    total = 0.0
    for lo, hi in split(lengths, le.shape[0]):
        ll, p, _ = log_forward_backward(le[lo:hi], startprob, transmat)
        total += ll
        if p is not None:
            post[lo:hi] = p
    return float(total), post


def batch_brute_force_best(log_emissions, startprob, transmat, lengths=None):
    """Best ``log p(x, z)`` over every state path, enumerated, summed over the
    sequences of a batch."""
    le = np.asarray(log_emissions, dtype=np.float64)
    return float(
        sum(
            brute_force(le[lo:hi], startprob, transmat)["best"]
            for lo, hi in split(lengths, le.shape[0])
        )
    )


def fast_path_score(log_emissions, startprob, transmat, path):
    """:func:`path_score`, fully vectorised (for very long sequences)."""
    le = np.asarray(log_emissions, dtype=np.float64)
    path = np.asarray(path, dtype=np.int64)
    terms = le[np.arange(path.size), path]
    trans = safe_log(transmat)[path[:-1], path[1:]]
    return float(safe_log(startprob)[path[0]] + np.sum(terms) + np.sum(trans))


def run_e_step(log_emissions, startprob, transmat, lengths=None):
    """fasthmm's E-step on a batch: (ll per sequence, xi, start_counts, post).

    (The one helper here that calls fasthmm: it only wires up the workspace.)
    """
    from fasthmm._validation import check_lengths
    from fasthmm.inference import Workspace, e_step

    le = np.ascontiguousarray(log_emissions, dtype=np.float64)
    ws = Workspace(check_lengths(lengths, le.shape[0]), le.shape[1])
    ws.load_log_emissions(le)
    ll, xi, start = e_step(
        ws,
        np.asarray(startprob, dtype=np.float64),
        np.asarray(transmat, dtype=np.float64),
    )
    return ll.copy(), xi.copy(), start.copy(), ws.post.copy()


# --------------------------------------------------------------------------
# Product tree for very long sequences
# --------------------------------------------------------------------------


def product_tree_loglik(log_emissions, startprob, transmat):
    """Log-likelihood of one long sequence without a recursion over time.

    ``p(x) = (startprob * e_0) @ M_1 @ ... @ M_{T-1} @ 1`` with
    ``M_t = transmat * e_t[None, :]`` and ``e_t = exp(log_emissions[t] - m_t)``;
    the matrix product is reduced pairwise (a balanced tree of batched
    matmuls), renormalising every partial product and keeping its log-scale.
    """
    le = np.asarray(log_emissions, dtype=np.float64)
    n, k = le.shape
    m = le.max(axis=1)
    e = np.exp(le - m[:, None])
    first = np.asarray(startprob, dtype=np.float64) * e[0]
    log_scale = float(np.sum(m))
    if n == 1:
        return float(np.log(first.sum())) + log_scale
    mats = np.asarray(transmat, dtype=np.float64)[None, :, :] * e[1:, None, :]
    logs = np.zeros(mats.shape[0])
    while mats.shape[0] > 1:
        if mats.shape[0] % 2:
            mats = np.concatenate((mats, np.eye(k)[None]), axis=0)
            logs = np.concatenate((logs, [0.0]))
        mats = np.matmul(mats[0::2], mats[1::2])
        logs = logs[0::2] + logs[1::2]
        norm = mats.max(axis=(1, 2))
        mats /= norm[:, None, None]
        logs += np.log(norm)
    v = first @ mats[0] @ np.ones(k)
    return float(np.log(v) + logs[0] + log_scale)


# --------------------------------------------------------------------------
# Random models
# --------------------------------------------------------------------------


def random_stochastic(rng, shape, zero_frac=0.0):
    """Random probability rows (the last axis sums to 1), entries drawn in
    [0.05, 1) before normalising, about ``zero_frac`` of them set to exact
    zeros.

    Each row keeps at least one positive entry.
    """
    a = rng.uniform(0.05, 1.0, size=shape)
    rows = a.reshape(-1, a.shape[-1])
    if zero_frac > 0:
        rows[rng.random(rows.shape) < zero_frac] = 0.0
    for row in rows:
        if row.sum() == 0:
            row[rng.integers(row.size)] = 1.0
    rows /= rows.sum(axis=1, keepdims=True)
    return rows.reshape(shape)


def random_spd(rng, d, scale=1.0):
    """A random symmetric positive-definite (d, d) matrix, eigenvalues in
    ``scale * [0.3, 1.5]``."""
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    vals = scale * rng.uniform(0.3, 1.5, d)
    return (q * vals) @ q.T


def random_covars(rng, covariance_type, k, d, scale=1.0):
    """Random covariances in the covariance type's own (hmmlearn) shape:
    (k,) spherical, (k, d) diag, (k, d, d) full, (d, d) tied."""
    if covariance_type == "spherical":
        return scale * rng.uniform(0.3, 1.5, k)
    if covariance_type == "diag":
        return scale * rng.uniform(0.3, 1.5, (k, d))
    if covariance_type == "full":
        return np.stack([random_spd(rng, d, scale) for _ in range(k)])
    return random_spd(rng, d, scale)


def random_problem(
    rng, k, lengths, zero_frac=0.3, neginf_frac=0.1, scale=3.0, left_right=False
):
    """A random model and log-emissions under which every sequence is possible.

    A state path is drawn from the Markov chain; -inf log-emissions are placed
    only off that path. ``left_right`` makes transmat upper triangular (states
    once left can never be re-entered).

    Returns
    -------
    log_emissions : (sum(lengths), k), startprob : (k,), transmat : (k, k)
    """
    startprob = random_stochastic(rng, (k,), zero_frac)
    transmat = random_stochastic(rng, (k, k), zero_frac)
    if left_right:
        transmat = np.triu(transmat)
        for i, row in enumerate(transmat):
            if row.sum() == 0:
                row[i] = 1.0
        transmat /= transmat.sum(axis=1, keepdims=True)
    n = int(np.sum(lengths))
    path = np.empty(n, dtype=np.int64)
    for lo, hi in split(lengths, n):
        path[lo] = rng.choice(k, p=startprob)
        for t in range(lo + 1, hi):
            path[t] = rng.choice(k, p=transmat[path[t - 1]])
    le = rng.normal(scale=scale, size=(n, k))
    mask = rng.random((n, k)) < neginf_frac
    mask[np.arange(n), path] = False
    le[mask] = NEG_INF
    return le, startprob, transmat


# --------------------------------------------------------------------------
# Emission log-likelihoods from a model's parameters
# --------------------------------------------------------------------------


def full_covars(covars, covariance_type, k, d):
    """Covariances as a (k, d, d) stack of full matrices."""
    covars = np.asarray(covars, dtype=float)
    if covariance_type == "spherical":
        return np.stack([c * np.eye(d) for c in covars])
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in covars])
    if covariance_type == "full":
        return covars
    return np.stack([covars] * k)


def categorical_loglik(X, emissionprob):
    """log p(x_t | z_t = k) for categorical emissions.

    Parameters
    ----------
    X : array-like of int, shape (n_samples,) or (n_samples, 1)
    emissionprob : ndarray of shape (n_components, n_features)

    Returns
    -------
    log_emissions : ndarray of shape (n_samples, n_components)
    """
    return safe_log(np.asarray(emissionprob)[:, np.asarray(X).reshape(-1)].T)


def gaussian_loglik(X, means, covars, covariance_type):
    """log N(x_t; means[k], Sigma_k) through full matrices, for any type.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    means : ndarray of shape (n_components, n_features)
    covars : ndarray in the covariance type's shape

    Returns
    -------
    log_emissions : ndarray of shape (n_samples, n_components)
    """
    X = np.asarray(X, dtype=float)
    k, d = means.shape
    out = np.empty((X.shape[0], k))
    for c, sigma in enumerate(full_covars(covars, covariance_type, k, d)):
        diff = X - means[c]
        sign, logdet = np.linalg.slogdet(sigma)
        assert sign > 0
        maha = np.sum(diff * np.linalg.solve(sigma, diff.T).T, axis=1)
        out[:, c] = -0.5 * (d * LOG_2PI + logdet + maha)
    return out


def gmm_full_covars(covars, covariance_type, k, m, d):
    """GMM covariances (any type) as a (k, m, d, d) stack of full matrices."""
    covars = np.asarray(covars, dtype=float)
    out = np.empty((k, m, d, d))
    for s in range(k):
        for j in range(m):
            if covariance_type == "spherical":
                out[s, j] = covars[s, j] * np.eye(d)
            elif covariance_type == "diag":
                out[s, j] = np.diag(covars[s, j])
            elif covariance_type == "full":
                out[s, j] = covars[s, j]
            else:
                out[s, j] = covars[s]
    return out


# -- chains with a transition matrix per step (input-driven transitions) -----


def softmax_transmats(transcoef, W):
    """Per-step transition matrices ``A[t, i, j] = softmax_j(transcoef[i, j] @ W[t])``,
    written out with one exponential per entry."""
    n, k = W.shape[0], transcoef.shape[0]
    A = np.empty((n, k, k))
    for t in range(n):
        for i in range(k):
            z = np.array([transcoef[i, j] @ W[t] for j in range(k)])
            e = np.exp(z - z.max())
            A[t, i] = e / e.sum()
    return A


def brute_force_steps(log_emissions, startprob, A):
    """Enumerate every state path of one sequence with per-step transitions
    ``A[t]`` (the step into row t; ``A[0]`` unused).

    Returns
    -------
    ll : float
    post : ndarray of shape (T, K)
    xi : ndarray of shape (T, K, K)
        ``xi[t, i, j] = p(z_{t-1} = i, z_t = j | x)``; ``xi[0] = 0``.
    best : ndarray of shape (T,)
        A best path (ties to the first in lexicographic order).
    best_score : float
    """
    le = np.asarray(log_emissions, dtype=np.float64)
    T, k = le.shape
    paths = list(itertools.product(range(k), repeat=T))
    scores = np.empty(len(paths))
    for n, z in enumerate(paths):
        s = safe_log(startprob[z[0]]) + le[0, z[0]]
        for t in range(1, T):
            s += safe_log(A[t, z[t - 1], z[t]]) + le[t, z[t]]
        scores[n] = s
    ll = logsumexp(scores)
    w = np.exp(scores - ll)
    post = np.zeros((T, k))
    xi = np.zeros((T, k, k))
    for n, z in enumerate(paths):
        for t in range(T):
            post[t, z[t]] += w[n]
            if t:
                xi[t, z[t - 1], z[t]] += w[n]
    best = int(np.argmax(scores))
    return ll, post, xi, np.array(paths[best]), float(scores[best])


def log_forward_backward_steps(log_emissions, startprob, A):
    """Log-space forward-backward of one sequence with per-step transitions.

    Returns
    -------
    ll : float
    filtered : ndarray of shape (T, K)
    post : ndarray of shape (T, K)
    """
    le = np.asarray(log_emissions, dtype=np.float64)
    T, k = le.shape
    lA = safe_log(A)
    la = np.empty((T, k))
    la[0] = safe_log(startprob) + le[0]
    for t in range(1, T):
        la[t] = logsumexp(la[t - 1][:, None] + lA[t], axis=0) + le[t]
    lb = np.zeros((T, k))
    for t in range(T - 2, -1, -1):
        lb[t] = logsumexp(lA[t + 1] + (le[t + 1] + lb[t + 1])[None, :], axis=1)
    ll = logsumexp(la[-1])
    filtered = np.exp(la - logsumexp(la, axis=1)[:, None])
    post = np.exp(la + lb - ll)
    return ll, filtered, post
