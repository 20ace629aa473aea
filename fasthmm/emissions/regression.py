"""Gaussian regression emissions: each state's mean is a linear function of
regressors (switching regression, and autoregression when the regressors
are lagged observations).

The emission sees a *design*: the observations' columns, then the regressor
columns, then (autoregression only) one column that is 1.0 on the rows it
scores and 0.0 on the rows it conditions on (the first ``order`` rows of a
sequence). The model builds it (``BaseHMM._design``) as a :class:`Design`,
which records how many regressor columns it holds; the emission splits it.

State ``k``: ``x_t ~ N(coef_[k] @ u_t + intercept_[k], Sigma_k)``, with the
covariance types and priors of :mod:`fasthmm.emissions._covariance`. The
M-step is exact: with the same regressors in every equation, the weighted
least-squares coefficients maximise the expected log-likelihood for any
covariance, and the covariance is then the MAP of the residual scatter.
"""

import numpy as np

from .._kernels import regression as _kr
from .._kernels.gaussian import log_density
from .._kmeans import kmeans
from .._validation import check_prior, check_real_samples, check_shape
from . import _covariance as cov
from . import _partial_switching as partial
from ._base import Emission
from ._weighted import weighted_sums


class Design(np.ndarray):
    """A designed array: observation columns, ``n_regressors`` regressor
    columns, then (autoregression) the scored-row flag."""

    n_regressors = None

    def __array_finalize__(self, obj):
        self.n_regressors = getattr(obj, "n_regressors", None)


def design(columns, n_regressors):
    """``np.hstack(columns)`` as a float64, C-contiguous :class:`Design`."""
    arr = np.ascontiguousarray(np.hstack(columns), dtype=np.float64).view(Design)
    arr.n_regressors = int(n_regressors)
    return arr


class RegressionEmission(Emission):
    """One Gaussian linear regression per state.

    Parameters
    ----------
    n_components : int
    params : dict
        ``"coef_"`` (n_components, n_features, n_regressors),
        ``"intercept_"`` (n_components, n_features), ``"covars_"`` (shape by
        covariance type, "tied": (n_features, n_features)).
    covariance_type : {"full", "diag", "spherical", "tied"}
    fit_intercept : bool
        Learn ``intercept_``; False holds it fixed (zero unless set by hand).
    min_covar : float
        Floor on the variances (eigenvalues for full matrices).
    coef_prior, coef_weight : float or ndarray
        Normal prior on ``coef_``: mean ``coef_prior`` (broadcast to
        ``coef_``'s shape), precision ``coef_weight / covariance`` on every
        coefficient (a ridge penalty ``coef_weight``, a scalar >= 0, on each
        equation, in the covariance's metric); ``coef_weight=0`` (default) is
        no prior. The intercept has no prior.
    covars_prior, covars_weight : float or ndarray
        The covariance prior of :class:`fasthmm.GaussianHMM`.
    switching_coef : bool or ndarray of bool, shape (n_regressors,)
        Which columns of ``coef_`` switch with the state (True: all); a
        column that does not is one coefficient vector shared by every
        state, stored in each state's slice of ``coef_``.
    switching_intercept : bool
        Whether ``intercept_`` switches with the state (else one shared
        intercept, stored in every row).
    """

    param_names = {"m": "coef_", "c": "covars_"}
    linked_names = {"m": ("intercept_",)}
    model_args_after = {
        "covariance_type": "n_components",
        "switching_coef": "implementation",
    }
    feature_param = "intercept_"
    #: Lagged observations among the regressors (0: switching regression).
    order = 0

    def __init__(
        self,
        n_components,
        params,
        covariance_type="full",
        fit_intercept=True,
        min_covar=1e-3,
        coef_prior=0.0,
        coef_weight=0.0,
        covars_prior=1e-2,
        covars_weight=1.0,
        switching_coef=True,
        switching_intercept=True,
    ):
        super().__init__(n_components, params)
        self.switching_coef, self.switching_intercept = partial.check_switching(
            switching_coef, switching_intercept
        )
        self.covariance_type, self.min_covar = cov.check_settings(
            covariance_type, min_covar
        )
        if not isinstance(fit_intercept, (bool, np.bool_)):
            raise TypeError(
                f"fit_intercept must be True or False, got {fit_intercept!r}"
            )
        self.fit_intercept = bool(fit_intercept)
        self.coef_prior = check_prior(coef_prior, "coef_prior")
        self.coef_weight = check_prior(
            coef_weight, "coef_weight", (), strict=True, kind="weight"
        )
        self.covars_prior = check_prior(covars_prior, "covars_prior")
        self.covars_weight = check_prior(covars_weight, "covars_weight")
        self._n_regressors = None

    # -- shapes -------------------------------------------------------------
    @property
    def n_regressors(self):
        """Regressor columns: from ``coef_`` when set, else from the data."""
        coef = self.params.get("coef_")
        if coef is not None and np.ndim(coef) == 3:
            return int(np.shape(coef)[2])
        return self._n_regressors

    @property
    def n_inputs(self):
        p = self.n_regressors
        return None if p is None else p - self.order * self.n_features

    @property
    def _flag(self):
        return 1 if self.order else 0

    def _n_features_of(self, X):
        p = X.n_regressors if isinstance(X, Design) else self._n_regressors
        return X.shape[1] - (p or 0) - self._flag

    def _split(self, X):
        """(observations, regressors, scored flag or None) of a design."""
        d, p = self.n_features, self.n_regressors
        flag = X[:, d + p] if self.order else None
        return X[:, :d], X[:, d : d + p], flag

    def _regressors(self, U):
        """The regressors with a column of ones appended when fitting an
        intercept: shape (n_samples, n_regressors + fit_intercept)."""
        if not self.fit_intercept:
            return U
        return np.hstack([U, np.ones((U.shape[0], 1))])

    def _weights(self):
        """Coefficients and intercept as one matrix per state, (K, d, q)."""
        coef, icpt = self.params["coef_"], self.params["intercept_"]
        if not self.fit_intercept:
            return coef
        return np.concatenate([coef, icpt[:, :, None]], axis=2)

    def _switching(self, n_regressors=None):
        """Which weight columns (``coef_``'s, then the intercept when fitted)
        switch with the state, bool (q,)."""
        p = self.n_regressors if n_regressors is None else n_regressors
        mask = partial.coef_mask(self.switching_coef, p)
        if self.fit_intercept:
            mask = np.append(mask, self.switching_intercept)
        return mask

    @property
    def partially_switching(self):
        """True when some coefficient (or the intercept) is shared."""
        return self.switching_coef is not True or (
            self.fit_intercept and not self.switching_intercept
        )

    @property
    def closed_form_given_states(self):
        """Given the states, one M-step is the maximiser, unless shared
        coefficients meet a covariance per state (the step is then
        conditional: a fully labelled fit iterates it)."""
        return not self.partially_switching or self.covariance_type == "tied"

    def _stacked(self):
        c = self.params["covars_"]
        return None if c is None else (c[None] if self.covariance_type == "tied" else c)

    def _public(self, covars):
        return covars[0] if self.covariance_type == "tied" else covars

    # -- checks -------------------------------------------------------------
    def check_hyperparameters(self):
        if self.missing != "raise":
            # A missing observation is a missing regressor of the rows after
            # it (ARHMM), and its exact M-step a regression on conditional
            # expectations: not offered.
            raise ValueError(
                f"missing={self.missing!r} is not available for regression "
                "emissions (RegressionHMM, ARHMM): use missing='raise' and "
                "drop or fill the rows with NaN"
            )
        k, d = self.n_components, self.n_features
        p = self.n_regressors
        if p is not None:
            check_prior(self.coef_prior, "coef_prior", (k, d, p))
            self._switching(p)  # raises for a mask of the wrong length
        shape = cov.covars_shape(self.covariance_type, k, d, k)
        check_prior(
            self.covars_prior,
            "covars_prior",
            shape[1:] if self.covariance_type == "tied" else shape,
        )
        return self

    def check_param(self, name, value):
        k, d = self.n_components, self.n_features
        if name == "intercept_":
            value = check_shape(value, name, (k, d))
            if self.fit_intercept and not self.switching_intercept:
                partial.check_shared(value[:, :, None], name, np.zeros(1, bool))
            return value
        if name == "coef_":
            p = np.shape(value)[2] if np.ndim(value) == 3 else -1
            value = check_shape(value, name, (k, d, p))
            if self.switching_coef is not True:
                partial.check_shared(
                    value, name, partial.coef_mask(self.switching_coef, p)
                )
            return value
        if self.covariance_type == "tied":
            value = check_shape(value, name, (d, d))[None]
        return self._public(cov.check_covars(value, self.covariance_type, k, d, k))

    def check_X(self, X):
        tagged = X.n_regressors if isinstance(X, Design) else None
        arr = check_real_samples(X, "X", missing="never")
        p = self.n_regressors if tagged is None else tagged
        d = self.n_features
        if d is not None and p is not None and arr.shape[1] - p - self._flag != d:
            raise ValueError(
                f"X must have n_features = {d} columns (as the model's "
                f"parameters), got {arr.shape[1] - p - self._flag}"
            )
        fitted = self.n_regressors
        if tagged is not None and fitted is not None and tagged != fitted:
            lags = self.order * d
            raise ValueError(
                f"inputs must have {fitted - lags} columns (as the model's coef_), "
                f"got {tagged - lags}"
            )
        if tagged is not None:
            self._n_regressors = tagged
        return arr

    # -- likelihood ---------------------------------------------------------
    def log_likelihood(self, X, out=None):
        k, d = self.n_components, self.n_features
        if out is None:
            out = np.empty((X.shape[0], k))
        diagonal, factors, log_norm = cov.density_terms(
            np.zeros((k, d)), self._stacked(), self.covariance_type, k
        )
        flag = np.int64(d + self.n_regressors if self.order else -1)
        args = (
            np.ascontiguousarray(X, dtype=np.float64),
            np.int64(d),
            np.ascontiguousarray(self.params["coef_"], dtype=np.float64),
            np.ascontiguousarray(self.params["intercept_"], dtype=np.float64),
            factors,
            log_norm,
            flag,
            out,
        )
        if diagonal:
            blocks = _kr.diag_log_density_blocks
        else:
            blocks = _kr.cholesky_log_density_blocks
        log_density(blocks, *args)
        return out

    # -- learning -----------------------------------------------------------
    def suff_stats(self, X, weights):
        """Weighted moments of the design's columns per state: ``"post"``
        (K,), ``"obs"`` (K, n_columns), ``"second"`` (K, n_columns,
        n_columns); rows not scored weigh 0. The design is used as it is
        (no copy): :meth:`_moments` picks the regressors and observations."""
        if self.order:
            weights = weights * X[:, self.n_features + self.n_regressors][:, None]
        post, obs, second = weighted_sums(X, weights, "full")
        return {"post": post, "obs": obs, "second": second}

    def _moments(self, stats, offset=None):
        """(post, M): ``M`` (K, q + d, q + d) the weighted moments of
        ``[z_t, y_t - offset_k]``, ``z_t`` the regressors with a 1 appended
        when fitting an intercept (its moments are ``post`` and ``obs``);
        ``offset`` (K, d): a fixed intercept, none by default."""
        post, obs, second = stats["post"], stats["obs"], stats["second"]
        k, m = obs.shape
        full = np.empty((k, m + 1, m + 1))
        full[:, :m, :m] = second
        full[:, m, :m] = full[:, :m, m] = obs
        full[:, m, m] = post
        d, p = self.n_features, self.n_regressors
        if offset is not None and np.any(offset):  # y - c = T [y, z, 1]
            T = np.broadcast_to(np.eye(m + 1), (k, m + 1, m + 1)).copy()
            T[:, np.arange(d), m] = -offset
            full = T @ full @ np.swapaxes(T, 1, 2)
        one = [m] if self.fit_intercept else []
        order = np.array([*range(d, d + p), *one, *range(d)], dtype=np.int64)
        return post, full[:, order][:, :, order]

    def _prior_terms(self, q):
        """Ridge matrix (q, q) and prior mean (K, d, q) of the coefficients
        (the intercept's row and column are zero: no prior on it)."""
        k, d, p = self.n_components, self.n_features, self.n_regressors
        ridge = np.zeros((q, q))
        ridge[np.arange(p), np.arange(p)] = float(self.coef_weight)
        mean = np.zeros((k, d, q))
        mean[:, :, :p] = np.broadcast_to(self.coef_prior, (k, d, p))
        return ridge, mean

    def _solve(self, post, second, q):
        """Weighted least-squares (ridge) coefficients per state, (K, d, q);
        states with no mass keep theirs."""
        ridge, mean = self._prior_terms(q)
        old = self._weights() if self.params.get("coef_") is not None else None
        if self.partially_switching:
            return self._solve_joint(post, second, q, ridge, mean, old)
        out = np.empty_like(mean)
        for s in range(self.n_components):
            zz = second[s, :q, :q] + ridge
            zy = second[s, :q, q:] + ridge @ mean[s].T
            if post[s] <= cov.EMPTY_MASS and old is not None:
                out[s] = old[s]
            else:
                out[s] = np.linalg.lstsq(zz, zy, rcond=None)[0].T
        return out

    def _solve_joint(self, post, second, q, ridge, mean, old):
        """The coefficients when some are shared by the states: the joint
        generalised least squares of :mod:`._partial_switching`, given the
        current covariances (any weighting gives the same solution for
        "tied"); the switching columns of states with no mass stay."""
        keep = post <= cov.EMPTY_MASS
        if old is None:
            keep[:] = False
        elif keep.all():
            return old
        zz = second[:, :q, :q] + ridge
        zx = second[:, :q, q:] + ridge @ np.swapaxes(mean, 1, 2)
        return partial.joint_least_squares(
            zz, zx, self._coef_precisions(), self._switching(), old, keep
        )

    def _coef_precisions(self):
        """The metric of each state's residuals in the coefficient step,
        (K, d, d): the identity for "tied" (or before covariances are set),
        else the inverse covariances."""
        k, d = self.n_components, self.n_features
        covars = self._stacked()
        if self.covariance_type == "tied" or covars is None:
            return np.broadcast_to(np.eye(d), (k, d, d))
        return np.linalg.inv(cov.expand_full(covars, self.covariance_type, k, d, k))

    def _scatter(self, post, second, W, q):
        """Residual scatter per state plus the coefficients' prior term,
        (K, d, d)."""
        ridge, mean = self._prior_terms(q)
        zz, zy, yy = second[:, :q, :q], second[:, :q, q:], second[:, q:, q:]
        cross = np.einsum("kdq,kqe->kde", W, zy)
        diff = W - mean
        return (
            yy
            - cross
            - np.swapaxes(cross, 1, 2)
            + np.einsum("kdq,kqr,ker->kde", W, zz, W)
            + np.einsum("kdq,qr,ker->kde", diff, ridge, diff)
        )

    def m_step(self, stats, letters):
        # a fixed intercept (fit_intercept=False) is taken off the observations
        fixed = None if self.fit_intercept else self.params.get("intercept_")
        post, second = self._moments(stats, fixed)
        d = self.n_features
        q = second.shape[1] - d
        W = self._weights()
        new = {}
        if "m" in letters:
            W = self._solve(post, second, q)
            p = self.n_regressors
            new["coef_"] = np.ascontiguousarray(W[:, :, :p])
            new["intercept_"] = (
                np.ascontiguousarray(W[:, :, p])
                if self.fit_intercept
                else self.params["intercept_"]
            )
            if not self.fit_intercept:
                W = new["coef_"]
        if "c" in letters:
            scatter = self._scatter(post, second, W, q)
            if self.covariance_type in ("spherical", "diag"):
                scatter = np.diagonal(scatter, axis1=1, axis2=2)
            k = self.n_components
            covars = cov.covars_m_step(
                self.covariance_type,
                post,
                np.zeros((k, d)),
                scatter,
                np.zeros((k, d)),
                0.0,
                0.0,
                self.covars_prior,
                self.covars_weight,
                self.min_covar,
                self._stacked(),
                k,
            )
            new["covars_"] = self._public(covars)
        return new

    def log_prior(self):
        k, d = self.n_components, self.n_features
        value = cov.log_prior(
            self.covariance_type,
            np.zeros((k, d)),
            self._stacked(),
            0.0,
            0.0,
            self.covars_prior,
            self.covars_weight,
            k,
        )
        if np.all(np.asarray(self.coef_weight) == 0):
            return value
        p = self.n_regressors
        diff = self.params["coef_"] - np.broadcast_to(self.coef_prior, (k, d, p))
        full = cov.expand_full(self._stacked(), self.covariance_type, k, d, k)
        quad = np.einsum("kdp,kep->kde", diff, diff) * float(self.coef_weight)
        trace = np.trace(np.linalg.solve(full, quad), axis1=1, axis2=2)
        return value - 0.5 * float(trace.sum())

    def initialize(self, X, letters, random_state):
        """k-means on the observations, then each cluster's least squares
        (coefficients) and the covariance of the observations."""
        if not set(letters) & set(self.param_names):
            return {}
        k, d = self.n_components, self.n_features
        flag = self._split(X)[2]
        if flag is not None and np.count_nonzero(flag) >= k:
            X = X[flag > 0]  # the scored rows (else all: a guess all the same)
        Y = X[:, :d]
        new = {}
        if "m" in letters:
            centers = kmeans(Y, k, random_state)
            labels = np.argmin(((Y[:, None, :] - centers[None]) ** 2).sum(-1), axis=1)
            post, obs, second = weighted_sums(X, np.eye(k)[labels], "full")
            _, M = self._moments({"post": post, "obs": obs, "second": second})
            q = M.shape[1] - d
            W = np.zeros((k, d, q))
            for s in range(k):
                if post[s] < 1:  # an empty cluster: its centre, no slopes
                    if self.fit_intercept:
                        W[s, :, -1] = centers[s]
                    continue
                zz = M[s, :q, :q] + 1e-8 * np.eye(q)
                W[s] = np.linalg.lstsq(zz, M[s, :q, q:], rcond=None)[0].T
            if self.partially_switching:  # the clusters' joint least squares
                W = partial.joint_least_squares(
                    M[:, :q, :q] + 1e-8 * np.eye(q),
                    M[:, :q, q:],
                    np.broadcast_to(np.eye(d), (k, d, d)),
                    self._switching(),
                    W,
                    post < 1,
                )
            p = self.n_regressors
            new["coef_"] = np.ascontiguousarray(W[:, :, :p])
            new["intercept_"] = (
                np.ascontiguousarray(W[:, :, p])
                if self.fit_intercept
                else np.zeros((k, d))
            )
        if "c" in letters:
            new["covars_"] = self._public(
                cov.initial_covars(Y, self.covariance_type, k, k, self.min_covar)
            )
        return new

    def n_free_parameters(self, letters):
        k, d = self.n_components, self.n_features
        n = 0
        if "m" in letters:
            switching = self._switching()
            n += d * int(np.where(switching, k, 1).sum())
        if "c" in letters:
            n += cov.n_covar_parameters(self.covariance_type, k, d, k)
        return n

    def noise(self, states, random_state):
        """Zero-mean Gaussian draws of each listed state's covariance,
        (n_samples, n_features)."""
        k, d = self.n_components, self.n_features
        return cov.sample(
            np.zeros((k, d)),
            self._stacked(),
            self.covariance_type,
            k,
            states,
            random_state,
        )

    def sample(self, states, random_state, regressors=None):
        """Draws given the states and the regressors (n_samples, n_regressors)."""
        states = np.asarray(states)
        if regressors is None:
            regressors = np.zeros((states.shape[0], self.n_regressors))
        Z = self._regressors(regressors)
        W = self._weights()
        means = np.einsum("tq,tdq->td", Z, W[states])
        return means + self.noise(states, random_state)


class AutoregressionEmission(RegressionEmission):
    """:class:`RegressionEmission` whose first ``order * n_features``
    regressors are the previous ``order`` observations (x_{t-1} first); rows
    whose flag is 0 (a sequence's first ``order``) are not scored.

    Parameters
    ----------
    order : int >= 1
    covariance_type, fit_intercept, min_covar, coef_prior, coef_weight,
    covars_prior, covars_weight, switching_coef, switching_intercept :
        As :class:`RegressionEmission` (``switching_coef`` over the lags,
        then the inputs).
    """

    model_args_after = {
        **RegressionEmission.model_args_after,
        "order": "n_components",
        "covariance_type": "order",
    }

    def __init__(
        self,
        n_components,
        params,
        order=1,
        covariance_type="full",
        fit_intercept=True,
        min_covar=1e-3,
        coef_prior=0.0,
        coef_weight=0.0,
        covars_prior=1e-2,
        covars_weight=1.0,
        switching_coef=True,
        switching_intercept=True,
    ):
        if isinstance(order, (bool, np.bool_)) or not isinstance(
            order, (int, np.integer)
        ):
            raise TypeError(f"order must be an int >= 1, got {order!r}")
        if order < 1:
            raise ValueError(f"order must be an int >= 1, got {order!r}")
        super().__init__(
            n_components,
            params,
            covariance_type,
            fit_intercept,
            min_covar,
            coef_prior,
            coef_weight,
            covars_prior,
            covars_weight,
            switching_coef,
            switching_intercept,
        )
        self.order = int(order)
