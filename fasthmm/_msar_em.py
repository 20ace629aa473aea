"""The M-step of :class:`fasthmm.MarkovSwitchingAR`: an ECM scheme over
the statistics of :mod:`fasthmm._msar_data`.

Given the tuple posteriors' moments, the AR coefficients (given the means
and variances), then the means and input coefficients (given the rest: a
weighted least squares over the tuple moments), then the variances are
each set to their exact conditional maximum; the transition step takes the
expected counts' ratios (a multinomial logistic regression per row with
transition inputs), with ``start="stationary"`` halved towards the previous
parameters until the transition term, start included, does not decrease,
then a few gradient steps on that term, each taken only if it increases it.
So the log-likelihood never decreases.
"""

import numpy as np

from .emissions._weighted import weighted_sums
from .input_transitions import log_transmats, logistic_rows

#: Step halvings tried by the transition M-step of ``start="stationary"``.
MAX_HALVINGS = 40
#: Gradient steps on the transition term per M-step (input-driven
#: transitions with ``start="stationary"``).
ASCENT_STEPS = 3
#: Step halvings of an ascent step along an exact gradient (a shorter step
#: gains too little to be worth its evaluations), and the gradient below which
#: no step is tried.
ASCENT_HALVINGS = 4
GRADIENT_TOL = 1e-9


def stationary_distribution(transmat):
    """The distribution ``pi`` with ``pi @ transmat = pi`` and sum one (for a
    chain with several, the least-squares one, as statsmodels' steady state),
    clipped at zero and normalised."""
    k = transmat.shape[0]
    try:  # (I - P + 1 1')' pi = 1: regular when the chain has one class
        pi = np.linalg.solve((np.eye(k) - transmat + 1.0).T, np.ones(k))
    except np.linalg.LinAlgError:
        a = np.vstack([np.eye(k) - transmat.T, np.ones((1, k))])
        pi = np.linalg.pinv(a)[:, -1]
    pi = np.maximum(pi, 0.0)
    return pi / pi.sum()


class ECMSteps:
    """The M-step's methods, mixed into :class:`fasthmm.MarkovSwitchingAR`
    (they read its ``n_components``, ``order``, ``params``, switching
    options, ``min_covar``, ``start`` and ``_chain()``)."""

    def _m_step(self, params, stats):
        """New parameters from the E-step's :class:`SwitchingARStats` (each block only
        if in ``params``)."""
        new = {n: None if v is None else v.copy() for n, v in params.items()}
        moments = stats.moments
        if "a" in self.params:
            new["ar_coef_"] = self._ar_step(new, moments)
        if "m" in self.params:
            new["means_"], new["coef_"] = self._mean_step(new, moments)
        if "v" in self.params:
            new["variances_"] = self._variance_step(new, moments)
        if "t" in self.params and self.transition_inputs:
            new["transcoef_"] = self._transcoef_step(params, stats)
        elif "t" in self.params:
            new["transmat_"] = self._transition_step(params, stats)
        if self.start == "stationary" and not self.transition_inputs:
            new["startprob_"] = stationary_distribution(new["transmat_"])
        elif "s" in self.params:
            new["startprob_"] = stats.start_counts / stats.start_counts.sum()
        return new

    def _moments(self, data, weights):
        """Posterior-weighted second moments of ``f_t = (1, features_t)`` per
        tuple state, shape (K^(p+1), q, q): ``features_t`` is ``(y_t, y_{t-1},
        ..., y_{t-p})``, then with inputs ``(u_t, ..., u_{t-p})``
        (:class:`fasthmm._msar_data.Batch`).

        Every innovation, deviation and lag deviation of the model is linear
        in ``f_t`` with coefficients fixed by the tuple, so these moments are
        all the M-step needs (the Gaussian emissions' weighted-sums kernel).
        """
        mass, first, second = weighted_sums(data.features, weights, "full")
        q = data.features.shape[1] + 1
        out = np.empty((len(mass), q, q))
        out[:, 0, 0] = mass
        out[:, 0, 1:] = out[:, 1:, 0] = first
        out[:, 1:, 1:] = second
        return out

    def _coefficients(self, params):
        """Per tuple state: the regimes (S, p + 1), the coefficients on f_t
        of the deviations ``y_{t-i} - mu[s_{t-i}] - u_{t-i} @ coef[s_{t-i}]``
        (S, p + 1, q), and the weights ``1 / variance[s_t]`` (S,)."""
        dig = self._chain().digits()
        p = self.order
        coef = params.get("coef_")
        m = 0 if coef is None else coef.shape[1]
        dev = np.zeros((len(dig), p + 1, p + 2 + (p + 1) * m))
        dev[:, :, 0] = -params["means_"][dig]
        dev[:, np.arange(p + 1), np.arange(1, p + 2)] = 1.0
        for i in range(p + 1 if m else 0):
            dev[:, i, p + 2 + i * m : p + 2 + (i + 1) * m] = -coef[dig[:, i]]
        return dig, dev, 1.0 / params["variances_"][dig[:, 0]]

    def _ar_step(self, params, moments):
        """AR coefficients maximising the expected log-density given the means
        and variances: weighted least squares of the deviation on its lags."""
        k = self.n_components
        dig, dev, scale = self._coefficients(params)
        m = np.einsum("sip,spq,sjq->sij", dev, moments, dev) * scale[:, None, None]
        gram = np.zeros((k, self.order, self.order))
        rhs = np.zeros((k, self.order))
        np.add.at(gram, dig[:, 0], m[:, 1:, 1:])
        np.add.at(rhs, dig[:, 0], m[:, 1:, 0])
        old = params["ar_coef_"]
        if not self.switching_ar:
            coef = _solve(gram.sum(axis=0), rhs.sum(axis=0), old[0])
            return np.tile(coef, (k, 1))
        return np.stack([_solve(gram[j], rhs[j], old[j]) for j in range(k)])

    def _lag_weights(self, params):
        """``c`` (S, p + 1): the innovation is ``sum_j c[:, j] * dev_j`` over
        the deviations at lags j = 0..p (``c[:, 0] = 1``, ``c[:, j] =
        -ar_coef_[s_t, j - 1]``)."""
        dig = self._chain().digits()
        return np.column_stack([np.ones(len(dig)), -params["ar_coef_"][dig[:, 0]]])

    def _innovation(self, params):
        """Coefficients (S, q) of the innovation on ``f_t`` per tuple state."""
        _, dev, _ = self._coefficients(params)
        return np.einsum("sj,sjq->sq", self._lag_weights(params), dev)

    def _mean_design(self, params, q):
        """The free mean parameters ``g`` (``means_`` when ``fit_intercept``,
        then ``coef_``: per regime, or one row when ``switching_coef=False``)
        and ``B`` (S, len(g), q) with the innovation ``= a @ f_t - g @ B[s]
        @ f_t``."""
        k, p = self.n_components, self.order
        dig = self._chain().digits()
        c = self._lag_weights(params)
        coef = params.get("coef_")
        m = 0 if coef is None else coef.shape[1]
        shared = m and not self.switching_coef
        n_mu = k if self.fit_intercept else 0
        g = [params["means_"]] if n_mu else []
        if m:
            g.append((coef[:1] if shared else coef).ravel())
        g = np.concatenate(g) if g else np.zeros(0)
        design = np.zeros((len(dig), len(g), q))
        rows = np.arange(len(dig))
        for j in range(p + 1):
            if n_mu:
                design[rows, dig[:, j], 0] += c[:, j]
            for col in range(m):
                at = n_mu + col + (0 if shared else dig[:, j] * m)
                design[rows, at, p + 2 + j * m + col] += c[:, j]
        return g, design

    def _mean_step(self, params, moments):
        """Means (and input coefficients) maximising the expected log-density
        given the AR coefficients and variances: the innovation is linear in
        them, a weighted least squares over the tuple moments."""
        k = self.n_components
        g, design = self._mean_design(params, moments.shape[1])
        if not len(g):
            return params["means_"], params.get("coef_")
        zeroed = dict(params, means_=params["means_"].copy())
        if self.fit_intercept:
            zeroed["means_"][:] = 0.0
        if zeroed.get("coef_") is not None:
            zeroed["coef_"] = np.zeros_like(params["coef_"])
        a = self._innovation(zeroed)
        scale = self._coefficients(params)[2]
        bm = np.einsum("sgp,spq->sgq", design, moments) * scale[:, None, None]
        gram = np.einsum("sgq,shq->gh", bm, design)
        rhs = np.einsum("sgq,sq->g", bm, a)
        g = _solve(gram, rhs, g)
        n_mu = k if self.fit_intercept else 0
        means = g[:n_mu] if n_mu else params["means_"]
        coef = params.get("coef_")
        if coef is not None and coef.shape[1]:
            coef = g[n_mu:].reshape(-1, coef.shape[1])
            coef = np.tile(coef, (k, 1)) if len(coef) == 1 and k > 1 else coef
        return means, coef

    def _variance_step(self, params, moments):
        """Variances maximising the expected log-density given the rest."""
        k = self.n_components
        coef = self._innovation(params)
        ss_tuple = np.einsum("sp,spq,sq->s", coef, moments, coef)
        current = self._chain().digits()[:, 0]
        ss = np.bincount(current, ss_tuple, minlength=k)
        mass = np.bincount(current, moments[:, 0, 0], minlength=k)
        if not self.switching_variance:
            ss, mass = np.full(k, ss.sum()), np.full(k, mass.sum())
        old = params["variances_"]
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.where(mass > 0, ss / mass, old)
        return np.maximum(var, self.min_covar)

    def _transition_step(self, params, stats):
        """``transmat_`` from the expected regime transitions (rows with no
        mass kept); with ``start="stationary"`` a step that does not lower the
        expected counts' log-probability plus the log start probability."""
        old = params["transmat_"]
        counts = stats.counts
        total = counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            candidate = np.where(total > 0, counts / total, old)
        if self.start != "stationary":
            return candidate

        def q(trans):
            pi = stationary_distribution(trans)
            return _xlogy(counts, trans) + _xlogy(stats.start_counts, pi)

        base = q(old)
        step = candidate - old
        for _ in range(MAX_HALVINGS):
            if q(old + step) >= base:
                old = old + step
                break
            step = step / 2
        if np.any(old <= 0):
            return old
        # the count ratios ignore the start term: gradient steps on the whole,
        # over each row's log-probabilities (rows stay distributions)
        logs = _ascend(
            lambda x: q(_row_softmax(x)),
            np.log(old),
            free=slice(None),
            grad=lambda x: _scaled_direction(
                _row_softmax(x), counts, stats.start_counts
            ),
        )
        return _row_softmax(logs)

    def _transcoef_step(self, params, stats):
        """``transcoef_`` by a weighted multinomial logistic regression per
        row on the expected transitions into every row (Newton steps that
        never lower it); with ``start="stationary"`` the step is halved towards
        the previous coefficients until the expected transitions'
        log-probability plus the log start probabilities does not decrease."""
        k = self.n_components
        y, w, head_w, first_regimes = stats.steps
        old = params["transcoef_"]
        candidate = logistic_rows(old, y, np.ascontiguousarray(w), 0.0)
        if self.start != "stationary":
            return candidate

        def q(coef):
            value = _xlogy(y, np.exp(log_transmats(coef, w)))
            for s, head in enumerate(np.exp(log_transmats(coef, head_w))):
                value += _xlogy(first_regimes[s], stationary_distribution(head))
            return value

        base, step = q(old), candidate - old
        for _ in range(MAX_HALVINGS):
            if q(old + step) >= base:
                old = old + step
                break
            step = step / 2
        # the logistic step ignores the start term: gradient steps on the whole
        return _ascend(q, old, free=(slice(None), slice(0, k - 1)))


def _scaled_direction(trans, counts, start_counts):
    """The gradient of :func:`_transition_gradient` divided by the diagonal
    of the counts term's curvature (``n_i trans_ij (1 - trans_ij)``, ``n_i``
    the row's counts): a step of about the right length, so that the first
    trial of each ascent step is usually taken."""
    grad = _transition_gradient(trans, counts, start_counts)
    curvature = counts.sum(axis=1, keepdims=True) * trans * (1 - trans)
    return grad / np.maximum(curvature, 1.0)


def _transition_gradient(trans, counts, start_counts):
    """Gradient over the rows' logits ``L`` (``trans = softmax(L)`` by row) of
    ``sum(counts * log trans) + sum(start_counts * log pi(trans))``, ``pi``
    the stationary distribution: with ``A = I - trans + 1 1'``, ``pi A = 1'``
    gives ``d pi = pi d(trans) A^-1``, so the gradient over ``trans`` is
    ``counts / trans + outer(pi, A^-1 (start_counts / pi))``, then through
    each row's softmax. NaN (no step) where ``pi`` has a zero."""
    k = trans.shape[0]
    pi = stationary_distribution(trans)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(start_counts > 0, start_counts / pi, 0.0)
        try:
            v = np.linalg.solve(np.eye(k) - trans + 1.0, g)
        except np.linalg.LinAlgError:
            return np.full_like(trans, np.nan)
        over = counts / trans + np.outer(pi, v)
    return trans * (over - (over * trans).sum(axis=1, keepdims=True))


def _ascend(q, x, free, steps=ASCENT_STEPS, h=1e-6, grad=None):
    """A few steepest-ascent steps on ``q`` over the entries ``x[free]``
    (``grad(x)``, or a central-difference gradient; step halved until ``q``
    increases): the result is never worse than ``x``."""
    best = q(x)
    for _ in range(steps):
        if grad is not None:
            g = grad(x)
            if not np.all(np.isfinite(g)) or np.abs(g).max() < GRADIENT_TOL:
                break
            x, best, moved = _step_up(q, x, best, g, ASCENT_HALVINGS)
            if not moved:
                break
            continue
        grad_fd = np.zeros_like(x)
        view = grad_fd[free]
        base = x[free]
        for idx in np.ndindex(base.shape):
            up, down = x.copy(), x.copy()
            up[free][idx] += h
            down[free][idx] -= h
            view[idx] = (q(up) - q(down)) / (2 * h)
        grad_fd[free] = view
        x, best, moved = _step_up(q, x, best, grad_fd)
        if not moved:
            break
    return x


def _step_up(q, x, best, grad, halvings=MAX_HALVINGS):
    """``x`` moved along ``grad``, the step halved (at most ``halvings``
    times) until ``q`` increases: (x, q(x), whether it moved)."""
    size = 1.0 / max(1.0, float(np.abs(grad).max()))
    for _ in range(halvings):
        trial = x + size * grad
        value = q(trial)
        if value > best:
            return trial, value, True
        size /= 2
    return x, best, False


def _row_softmax(logits):
    """Each row of ``exp(logits)`` normalised to sum one."""
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _solve(gram, rhs, old):
    """Least-squares solution of ``gram @ x = rhs``; ``old`` when ``gram`` has
    no weight (a regime without posterior mass)."""
    if not np.any(gram):
        return old.copy()
    try:
        return np.linalg.solve(gram, rhs)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(gram, rhs, rcond=None)[0]


def _xlogy(x, y):
    """``sum(x * log(y))`` with 0 log 0 = 0 (and -inf where x > 0 = y)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.where(x > 0, x * np.log(y), 0.0).sum())
