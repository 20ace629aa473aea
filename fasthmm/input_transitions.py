"""Input-driven transitions: a transition matrix per step, from covariates.

A model built with ``transition_inputs=True`` has

    p(z_t = j | z_{t-1} = i, w_t) = softmax_j(transcoef_[i, j] @ w_t)

with ``w_t`` row ``t`` of the ``transition_inputs=`` array (aligned with X;
row 0 of each sequence is not used) and ``transcoef_`` of shape
(n_components, n_components, n_transition_inputs), its last column
``transcoef_[:, -1, :]`` fixed at zero (the reference state). A constant
column of ``w`` is the user's (as statsmodels' ``exog_tvtp``).

:class:`InputTransitions` is the chain component (as
:class:`fasthmm.transitions.Transitions`): bound to a batch's inputs
(:meth:`InputTransitions.bound`) its ``transmat`` is a
:class:`fasthmm.inference.PerStep` of per-step log transition matrices,
which every inference route recognises. Its E-step statistics are the
expected transition counts of every step (:class:`StepCounts`), and its
M-step is a weighted multinomial logistic regression per row ``i``
(:func:`logistic_rows`): Newton steps with step-halving, each accepted only
if it does not lower the row's expected complete-data log-likelihood plus
log prior, so the EM objective never decreases.
"""

from dataclasses import dataclass
from functools import partial

import numpy as np

from ._dirichlet import dirichlet_log_prior, dirichlet_map
from ._kernels.varying import logistic_terms, step_log_transmats
from ._validation import as_float_array, check_random_state, check_startprob
from .emissions._base import names_by_letter
from .inference import PerStep
from .transitions import INIT_CONCENTRATION, flush_subnormal, require_set

#: Newton iterations per row (to convergence), and halvings per Newton step.
NEWTON_STEPS = 25
HALVINGS = 40
#: Newton iterations per row in an EM iteration's M-step: a generalised EM
#: step (it still raises the objective), so that no iteration pays for an
#: exact maximisation its E-step will move anyway. Fits with one step and
#: with three to convergence climbed the same per iteration (within 0.1 of
#: the log-likelihood after 60 iterations, K = 3 and 6), at half the cost.
EM_NEWTON_STEPS = 1
#: Relative gain (actual or predicted by the Newton decrement) below which
#: a row's regression stops.
_TOL = 1e-10
#: A step that gained more than this fraction of the step before it is
#: slow: the next pass recomputes the information matrices.
_SLOW = 0.1


@dataclass(frozen=True)
class StepCounts:
    """Expected transition counts of every step, with the inputs that drove them.

    Attributes
    ----------
    xi : ndarray of shape (n_samples, n_components, n_components)
        ``xi[t, i, j] = p(z_{t-1} = i, z_t = j | x)`` (zero at first rows).
    w : ndarray of shape (n_samples, n_transition_inputs)

    Statistics of disjoint batches add up by stacking their rows, so blocks
    and partitions sum as the other statistics do (memory grows with the
    number of rows: K * K + n_transition_inputs floats per row).
    """

    xi: np.ndarray
    w: np.ndarray

    def __add__(self, other):
        if not isinstance(other, StepCounts):
            return NotImplemented
        return StepCounts(
            np.concatenate([self.xi, other.xi]), np.concatenate([self.w, other.w])
        )

    def sum(self, axis=None):
        """The counts summed over steps, shape (n_components, n_components)."""
        return self.xi.sum(axis=0)


def log_transmats(transcoef, w, probs=False):
    """Per-step log transition matrices (and, with ``probs``, the same as
    probabilities, from the same pass).

    Parameters
    ----------
    transcoef : ndarray of shape (n_components, n_components, n_inputs)
    w : ndarray of shape (n_samples, n_inputs)
    probs : bool

    Returns
    -------
    ndarray of shape (n_samples, n_components, n_components)
        ``[t, i, j] = log softmax_j(transcoef[i, j] @ w[t])``; with
        ``probs``, a pair (logs, probabilities).
    """
    k = transcoef.shape[0]
    n = w.shape[0]
    out = np.empty((n, k, k))
    prob = np.empty((n if probs else 0, k, k))
    coef = np.ascontiguousarray(transcoef, dtype=np.float64)
    step_log_transmats(coef, np.ascontiguousarray(w, dtype=np.float64), out, prob)
    return (out, prob) if probs else out


def reduced_counts(xi, w):
    """What the regressions read of the per-step counts: ``(y, nt)``.

    Parameters
    ----------
    xi : ndarray of shape (n_steps, n_components, n_components)
    w : ndarray of shape (n_steps, n_inputs)

    Returns
    -------
    y : ndarray of shape (n_components, n_components, n_inputs)
        ``y[i, j] = sum_t xi[t, i, j] w[t]`` (one matrix product).
    nt : ndarray of shape (n_steps, n_components)
        ``nt[t, i] = sum_j xi[t, i, j]``.
    """
    n, k, _ = xi.shape
    y = (xi.reshape(n, k * k).T @ w).reshape(k, k, w.shape[1])
    nt = (xi.reshape(n * k, k) @ np.ones(k)).reshape(n, k)
    return np.ascontiguousarray(y), nt


def transmat_probs(transcoef, w):
    """Per-step transition matrices as probabilities alone (the second
    output of :func:`log_transmats` without the logarithms).

    Returns
    -------
    ndarray of shape (n_samples, n_components, n_components)
    """
    k = transcoef.shape[0]
    out = np.empty((w.shape[0], k, k))
    coef = np.ascontiguousarray(transcoef, dtype=np.float64)
    w = np.ascontiguousarray(w, dtype=np.float64)
    step_log_transmats(coef, w, np.empty((0, k, k)), out)
    return out


def _objectives(coef, counts, prior, active, level, values, grad, info):
    """Each active row's expected log-likelihood plus log prior, with its
    gradient (and, at ``level`` 2, its information) filled (see
    :func:`fasthmm._kernels.varying.logistic_terms`); shape (n_components,)."""
    y, nt, w = counts
    logistic_terms(coef, y, nt, w, active, np.int64(level), values, grad, info)
    return values - 0.5 * prior * np.square(coef).sum(axis=(1, 2))


def logistic_rows(transcoef, xi, w, prior, steps=NEWTON_STEPS):
    """Weighted multinomial logistic regressions of every row of ``transcoef_``.

    Maximises, for each row ``i``, ``sum_t sum_j xi[t, i, j] log
    softmax_j(transcoef[i, j] @ w_t) - prior / 2 * ||transcoef[i]||^2`` over
    ``transcoef[i, :-1]`` (the last destination stays zero) by Newton steps
    from ``transcoef``, each halved until it does not lower the row's
    objective (a step that cannot be made to is not taken), so no row ends
    worse than it started. A row stops when the Newton decrement (the gain
    its quadratic model predicts) or its actual gain is negligible. The rows
    share each pass over the steps
    (:func:`fasthmm._kernels.varying.logistic_terms`), and the information
    matrices (the costly part of a pass) are recomputed only when the
    previous ones stop serving: after a halved step, or when a step gained
    more than a tenth of the step before it (slow convergence); otherwise
    the steps reuse them (a chord Newton method, converging fast near the
    optimum, still never lowering the objective).

    Parameters
    ----------
    transcoef : ndarray of shape (n_components, n_components, n_inputs)
        Start; ``transcoef[:, -1]`` is zero.
    xi : ndarray of shape (n_steps, n_components, n_components), C-contiguous
        Expected transition counts of each step (the weights).
    w : ndarray of shape (n_steps, n_inputs), C-contiguous
    prior : float
        L2 precision (>= 0).
    steps : int
        Most Newton steps.

    Returns
    -------
    ndarray of shape (n_components, n_components, n_inputs)
    """
    counts = (*reduced_counts(xi, w), w)
    return _ascend(transcoef, counts, prior, steps)[0]


def _ascend(transcoef, counts, prior, steps, info=None):
    """Chord Newton steps with halving of every row (see
    :func:`logistic_rows`), from ``transcoef``, on the counts ``(y, nt,
    w)`` of :func:`reduced_counts`.

    ``info`` (shape (n_components, m, m), optional) are information
    matrices to start from instead of computing them at ``transcoef`` (a
    previous M-step's: the first pass then costs as the later ones).

    Returns
    -------
    coef : ndarray of shape (n_components, n_components, n_inputs)
    info : ndarray of shape (n_components, m, m) or None
        The information matrices of the last step, for the next call; None
        when they no longer serve: the step had to be halved, or its gain
        missed the one they predicted by more than a quarter.
    """
    k, _, d = transcoef.shape
    m = (k - 1) * d
    coef = np.array(transcoef, dtype=np.float64, order="C")
    values, grad = np.zeros(k), np.zeros((k, m))
    stale = info is not None and info.shape == (k, m, m)
    info = np.array(info) if stale else np.zeros((k, m, m))
    active = np.ones(k, dtype=np.int64)
    best = _objectives(
        coef, counts, prior, active, 1 if stale else 2, values, grad, info
    )
    halved = False
    eye = prior * np.eye(m)
    last = np.full(k, np.inf)
    level = 1
    for n_step in range(steps):
        if n_step == steps - 1:
            level = 0  # the last candidates need their values only
        step = np.zeros((k, k - 1, d))
        predicted = np.zeros(k)
        for i in np.flatnonzero(active):
            g = grad[i] - prior * coef[i, :-1].ravel()
            if not (np.isfinite(g).all() and np.isfinite(info[i]).all()):
                active[i] = 0  # no step for this row: it keeps its value
                continue
            s = np.linalg.lstsq(info[i] + eye, g, rcond=None)[0]
            if not (np.all(np.isfinite(s)) and 0.5 * g @ s > _TOL * (1 + abs(best[i]))):
                active[i] = 0
                continue
            step[i] = s.reshape(k - 1, d)
            predicted[i] = 0.5 * g @ s
        pending = active.copy()
        size = np.ones(k)
        gain = np.zeros(k)
        cand = coef.copy()
        for _ in range(HALVINGS):
            if not pending.any():
                break
            cand[:, :-1] = coef[:, :-1] + (size * pending)[:, None, None] * step
            finite = np.isfinite(cand).all(axis=(1, 2))
            tried = pending & finite
            value = _objectives(cand, counts, prior, tried, level, values, grad, info)
            ok = (tried == 1) & (value >= best)
            gain[ok] = value[ok] - best[ok]
            best[ok] = value[ok]
            coef[ok] = cand[ok]
            pending[ok] = 0
            size[pending == 1] *= 0.5
        # Information matrices whose quadratic model missed a step's gain
        # by more than a quarter are not reused.
        moved = active == 1
        missed = np.abs(gain[moved] - predicted[moved]) > 0.25 * predicted[moved]
        halved = halved or bool(np.any(size < 1.0) or np.any(missed))
        # A row whose step could not be made to gain stays where it was.
        active[pending == 1] = 0
        active[gain <= _TOL * (1.0 + np.abs(best))] = 0
        if not active.any():
            break
        live = active == 1
        slow = bool(np.any(gain[live] > _SLOW * last[live]))
        level = 2 if halved or slow else 1
        last = gain
    return coef, (None if halved else info)


def logistic_row(coef, y, w, prior, steps=NEWTON_STEPS):
    """One row's regression (:func:`logistic_rows` with counts in one row).

    Parameters
    ----------
    coef : ndarray of shape (n_components, n_inputs)
        Start; ``coef[-1]`` is zero.
    y : ndarray of shape (n_steps, n_components)
        Expected counts of each destination state.
    w : ndarray of shape (n_steps, n_inputs)
    prior : float
    steps : int

    Returns
    -------
    ndarray of shape (n_components, n_inputs)
    """
    k, d = coef.shape
    full = np.zeros((k, k, d))
    full[0] = coef
    xi = np.zeros((y.shape[0], k, k))
    xi[:, 0, :] = y
    w = np.ascontiguousarray(w, dtype=np.float64)
    return logistic_rows(full, xi, w, prior, steps)[0]


class InputTransitions:
    """Start probabilities and input-driven transitions (see the module notes).

    Parameters
    ----------
    n_components : int
    startprob : ndarray of shape (n_components,) or None
    transcoef : ndarray of shape (n_components, n_components, n_inputs) or None
    startprob_prior : float or ndarray of shape (n_components,)
        Dirichlet concentration (1: no prior).
    transcoef_prior : float
        Precision of the zero-mean Gaussian prior on ``transcoef`` (0: none).
    w : ndarray of shape (n_samples, n_inputs), optional
        The batch's ``transition_inputs`` (see :meth:`bound`).
    """

    param_names = {"s": "startprob_", "t": "transcoef_"}
    linked_names = {}

    def __init__(
        self,
        n_components,
        startprob,
        transcoef,
        startprob_prior=1.0,
        transcoef_prior=0.0,
        w=None,
    ):
        self.n_components = n_components
        self.startprob = startprob
        self.transcoef = transcoef
        self.startprob_prior = startprob_prior
        self.transcoef_prior = transcoef_prior
        self.w = w
        self._steps = None
        # The last M-step's information matrices: the next M-step of the
        # same fit starts its Newton step from them (see m_step).
        self._info = None

    @property
    def params(self):
        return {"startprob_": self.startprob, "transcoef_": self.transcoef}

    @classmethod
    def names_by_letter(cls):
        return names_by_letter(cls)

    def _replace(self, startprob, transcoef, w=None):
        return InputTransitions(
            self.n_components,
            startprob,
            transcoef,
            self.startprob_prior,
            self.transcoef_prior,
            self.w if w is None else w,
        )

    @property
    def n_inputs(self):
        """Number of transition inputs (columns of ``transcoef_``'s last axis)."""
        if self.transcoef is not None:
            return np.shape(self.transcoef)[-1]
        return None if self.w is None else self.w.shape[1]

    @property
    def transmat(self):
        """The bound batch's per-step transition matrices (:class:`PerStep`)."""
        if self.w is None:
            raise ValueError(
                "input-driven transitions have no transition matrix without "
                "transition_inputs"
            )
        if self._steps is None:
            make = partial(log_transmats, self.transcoef, self.w)  # picklable
            probs = partial(transmat_probs, self.transcoef, self.w)
            self._steps = PerStep(make=make, make_probs=probs)
        return self._steps

    def bound(self, w):
        """This chain for a batch whose ``transition_inputs`` are ``w``.

        Raises
        ------
        ValueError
            When ``w`` has not ``transcoef_.shape[2]`` columns.
        """
        d = None if self.transcoef is None else np.shape(self.transcoef)[-1]
        if w is not None and d is not None and w.shape[1] != d:
            raise ValueError(
                f"transition_inputs must have {d} columns (transcoef_.shape[2]), "
                f"got {w.shape[1]}"
            )
        return self._replace(self.startprob, self.transcoef, w)

    def counts(self, xi):
        """The M-step's statistics from the E-step's per-step counts."""
        return StepCounts(xi, self.w)

    def require(self):
        require_set(self.params)

    def checked(self):
        """The component with both parameters checked.

        Raises
        ------
        NotFittedError
            When a parameter is not set.
        ValueError
            Naming the invalid parameter: ``transcoef_`` not of shape
            (n_components, n_components, n_inputs), not finite, or its last
            column not zero.
        """
        self.require()
        k = self.n_components
        coef = as_float_array(self.transcoef, "transcoef_", ndim=3)
        if coef.shape[:2] != (k, k) or coef.shape[2] < 1:
            raise ValueError(
                f"transcoef_ must have shape ({k}, {k}, n_transition_inputs), got "
                f"shape {coef.shape}"
            )
        if np.any(coef[:, -1, :] != 0.0):
            raise ValueError(
                "transcoef_[:, n_components - 1, :] must be zero (the last state "
                "is the reference of each row's softmax)"
            )
        return self._replace(check_startprob(self.startprob, k, "startprob_"), coef)

    def initialized(self, letters, starts=None, random_state=None):
        """Start probabilities as :class:`~fasthmm.transitions.Transitions`
        draws them; ``transcoef_`` zero, except the coefficients of a constant
        nonzero column of the bound inputs (an intercept), which start at the
        logits of a random transition matrix drawn as the stationary chains
        draw theirs (so restarts explore).
        """
        k = self.n_components
        rng = check_random_state(random_state)
        alpha = np.full(k, INIT_CONCENTRATION)
        startprob = rng.dirichlet(alpha) if "s" in letters else self.startprob
        coef = self.transcoef
        if "t" in letters:
            if self.w is None:
                raise ValueError(
                    "transcoef_ is initialised from transition_inputs: pass them"
                )
            w = self.w
            coef = np.zeros((k, k, w.shape[1]))
            const = np.flatnonzero((w.max(axis=0) == w.min(axis=0)) & (w[0] != 0))
            if const.size:
                col = int(const[0])
                table = np.log(rng.dirichlet(alpha, size=k))
                coef[:, :, col] = (table - table[:, -1:]) / w[0, col]
        return self._replace(startprob, coef)

    def m_step(self, start_counts, trans_counts, letters):
        """MAP update: Dirichlet for ``startprob``, a logistic regression per
        row for ``transcoef`` (:func:`logistic_rows`, at most
        :data:`EM_NEWTON_STEPS` Newton steps).

        Parameters
        ----------
        start_counts : ndarray of shape (n_components,)
        trans_counts : StepCounts
        letters : str
        """
        startprob, coef = self.startprob, self.transcoef
        if "s" in letters:
            startprob = flush_subnormal(
                dirichlet_map(start_counts, self.startprob_prior, startprob)
            )
        if "t" in letters:
            xi = np.ascontiguousarray(trans_counts.xi, dtype=np.float64)
            w = np.ascontiguousarray(trans_counts.w, dtype=np.float64)
            prior = float(self.transcoef_prior)
            counts = (*reduced_counts(xi, w), w)
            coef, info = _ascend(coef, counts, prior, EM_NEWTON_STEPS, self._info)
            new = self._replace(startprob, coef)
            new._info = info
            return new
        return self._replace(startprob, coef)

    def log_prior(self):
        """Dirichlet log density of ``startprob`` plus the Gaussian one of
        ``transcoef`` (up to constants)."""
        value = dirichlet_log_prior(self.startprob, self.startprob_prior)
        return value - 0.5 * float(self.transcoef_prior) * float(
            np.sum(np.square(self.transcoef))
        )

    def objective_term(self):
        return self.log_prior()

    def n_free_parameters(self):
        k = self.n_components
        return (k - 1) + k * (k - 1) * self.n_inputs

    def sample(self, n_samples, random_state, first_state=None):
        """Draw a state path under the bound inputs (``n_samples`` rows)."""
        if self.w is None or self.w.shape[0] != n_samples:
            raise ValueError(
                f"transition_inputs must have one row per sample drawn ({n_samples})"
            )
        k = self.n_components
        start = self.startprob
        if first_state is not None:
            start = np.zeros(k)
            start[first_state] = 1.0
        probs = self.transmat.probs
        u = random_state.random(n_samples)
        states = np.empty(n_samples, dtype=np.int64)
        states[0] = min(np.searchsorted(np.cumsum(start), u[0], "right"), k - 1)
        for t in range(1, n_samples):
            row = np.cumsum(probs[t, states[t - 1]])
            states[t] = min(np.searchsorted(row, u[t] * row[-1], "right"), k - 1)
        return states
