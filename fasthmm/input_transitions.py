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
(:func:`logistic_row`): Newton steps with step-halving, each accepted only
if it does not lower the row's expected complete-data log-likelihood plus
log prior, so the EM objective never decreases.
"""

from dataclasses import dataclass

import numpy as np

from ._dirichlet import dirichlet_log_prior, dirichlet_map
from ._kernels.varying import logistic_terms, step_log_transmats
from ._validation import as_float_array, check_random_state, check_startprob
from .emissions._base import names_by_letter
from .inference import PerStep
from .transitions import INIT_CONCENTRATION, flush_subnormal, require_set

#: Newton iterations per row and M-step, and halvings per Newton step.
NEWTON_STEPS = 25
HALVINGS = 40
_NO_GRAD = np.empty(0)
_NO_INFO = np.empty((0, 0))


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


def log_transmats(transcoef, w):
    """Per-step log transition matrices.

    Parameters
    ----------
    transcoef : ndarray of shape (n_components, n_components, n_inputs)
    w : ndarray of shape (n_samples, n_inputs)

    Returns
    -------
    ndarray of shape (n_samples, n_components, n_components)
        ``[t, i, j] = log softmax_j(transcoef[i, j] @ w[t])``.
    """
    k = transcoef.shape[0]
    out = np.empty((w.shape[0], k, k))
    coef = np.ascontiguousarray(transcoef, dtype=np.float64)
    step_log_transmats(coef, np.ascontiguousarray(w, dtype=np.float64), out)
    return out


def _row_objective(coef, y, w, prior, grad=_NO_GRAD, info=_NO_INFO):
    """``sum_t sum_j y[t, j] log p_t(j) - prior / 2 ||coef||^2`` for one row
    (with ``grad`` and ``info`` of the right sizes: filled, see
    :func:`fasthmm._kernels.varying.logistic_terms`)."""
    want = grad.shape[0] > 0
    value = logistic_terms(coef, y, w, np.bool_(want), grad, info)
    return value - 0.5 * prior * float((coef**2).sum())


def logistic_row(coef, y, w, prior, steps=NEWTON_STEPS):
    """Weighted multinomial logistic regression of one row of ``transcoef_``.

    Maximises ``sum_t sum_j y[t, j] log softmax_j(coef @ w_t) -
    prior / 2 * ||coef||^2`` over ``coef[:-1]`` (the last row stays zero) by
    Newton steps from ``coef``, each halved until it does not lower the
    objective (a step that cannot be made to is not taken), so the result
    is never worse than ``coef``.

    Parameters
    ----------
    coef : ndarray of shape (n_components, n_inputs)
        Start; ``coef[-1]`` is zero.
    y : ndarray of shape (n_steps, n_components), C-contiguous
        Expected counts of each destination state (the weights).
    w : ndarray of shape (n_steps, n_inputs), C-contiguous
    prior : float
        L2 precision (>= 0).
    steps : int
        Most Newton steps.

    Returns
    -------
    ndarray of shape (n_components, n_inputs)
    """
    k, d = coef.shape
    m = (k - 1) * d
    coef = np.ascontiguousarray(coef, dtype=np.float64)
    grad, info = np.empty(m), np.empty((m, m))
    best = _row_objective(coef, y, w, prior, grad, info)
    for _ in range(steps):
        grad -= prior * coef[:-1].ravel()
        info += prior * np.eye(m)
        step = np.linalg.lstsq(info, grad, rcond=None)[0].reshape(k - 1, d)
        if not np.all(np.isfinite(step)):
            break
        size, moved = 1.0, False
        for _ in range(HALVINGS):
            cand = coef.copy()
            cand[:-1] += size * step
            # The full step is usually taken: its pass gives the next
            # Newton step's gradient and information too.
            terms = (grad, info) if size == 1.0 else ()
            value = _row_objective(cand, y, w, prior, *terms)
            if np.all(np.isfinite(cand)) and value >= best:
                moved = True
                break
            size *= 0.5
        if not moved:
            break
        if size != 1.0:
            _row_objective(cand, y, w, prior, grad, info)
        gain = value - best
        coef, best = cand, value
        if gain <= 1e-12 * (1.0 + abs(best)):
            break
    return coef


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
            self._steps = PerStep(log_transmats(self.transcoef, self.w))
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
        row for ``transcoef`` (:func:`logistic_row`).

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
            coef = coef.copy()
            xi, w = trans_counts.xi, np.ascontiguousarray(trans_counts.w)
            prior = float(self.transcoef_prior)
            for i in range(self.n_components):
                y = np.ascontiguousarray(xi[:, i, :])
                coef[i] = logistic_row(coef[i], y, w, prior)
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
        probs = np.exp(self.transmat.log)
        u = random_state.random(n_samples)
        states = np.empty(n_samples, dtype=np.int64)
        states[0] = min(np.searchsorted(np.cumsum(start), u[0], "right"), k - 1)
        for t in range(1, n_samples):
            row = np.cumsum(probs[t, states[t - 1]])
            states[t] = min(np.searchsorted(row, u[t] * row[-1], "right"), k - 1)
        return states
