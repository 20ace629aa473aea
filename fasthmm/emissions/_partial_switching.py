"""Regressions whose coefficients switch with the state in some columns and
are shared by every state in the others (statsmodels' ``switching_exog`` /
``switching_trend``): the options and the M-step of
:class:`fasthmm.emissions.regression.RegressionEmission`.

The weights of state ``k`` are ``W_k = [coef_[k], intercept_[k]]`` (d, q).
A shared column ``j`` is one vector ``b_j`` (d,) in every state; a switching
column is one vector ``c_kj`` per state. Stacking the free columns into
``Theta`` (d, n_blocks), ``W_k = Theta E_k`` with a 0/1 selection ``E_k``
(n_blocks, q). Given the state precisions ``P_k``, the expected
log-likelihood is maximised by the generalised least squares

    sum_k (E_k Z_k E_k') kron P_k  vec(Theta) = vec(sum_k P_k X_k E_k')

with ``Z_k`` (q, q) and ``X_k`` (d, q) the posterior-weighted moments
``sum_t w_tk z_t z_t'`` and ``sum_t w_tk x_t z_t'`` (plus the ridge prior's
terms). Every equation of a state has the same regressors and the sharing is
per column, so with one covariance for all states ("tied") the solution does
not depend on it: the step is an exact joint M-step (ordinary least squares
on the design stacked over the states). With a covariance per state it is
exact given the covariances; the covariances are then updated given the new
coefficients: an expectation-conditional-maximisation (ECM) step, which
never lowers the EM objective either.
"""

import numpy as np


def check_switching(switching_coef, switching_intercept):
    """Checked switching options: ``switching_coef`` as a bool or a 1-D
    bool array, ``switching_intercept`` as a bool."""
    if not isinstance(switching_intercept, (bool, np.bool_)):
        raise TypeError(
            f"switching_intercept must be True or False, got {switching_intercept!r}"
        )
    if isinstance(switching_coef, (bool, np.bool_)):
        return bool(switching_coef), bool(switching_intercept)
    arr = np.asarray(switching_coef)
    if arr.dtype != np.bool_ or arr.ndim != 1:
        raise TypeError(
            "switching_coef must be True, False or a 1-D array of booleans "
            f"(one per column of coef_), got {switching_coef!r}"
        )
    return arr.copy(), bool(switching_intercept)


def coef_mask(switching_coef, n_regressors):
    """``switching_coef`` as a bool array of length ``n_regressors``."""
    if isinstance(switching_coef, bool):
        return np.full(n_regressors, switching_coef)
    if switching_coef.shape != (n_regressors,):
        raise ValueError(
            "switching_coef must be True, False or one boolean per column of "
            f"coef_ ({n_regressors}), got {switching_coef.shape[0]} booleans"
        )
    return switching_coef


def check_shared(value, name, switching):
    """Raise unless ``value`` (K, d, q) is the same in every state in the
    columns where ``switching`` (q,) is False."""
    shared = value[:, :, ~switching]
    if shared.size and not np.allclose(shared, shared[:1], rtol=1e-10, atol=1e-12):
        j = int(np.flatnonzero(~switching)[0])
        raise ValueError(
            f"{name} must be the same in every state in the columns that do "
            f"not switch (switching_coef / switching_intercept False), e.g. "
            f"column {j}"
        )


def selections(switching, n_components):
    """The 0/1 maps ``E`` (K, n_blocks, q) from the free blocks to each
    state's columns: the shared columns first, then each state's switching
    columns, state by state."""
    q = switching.shape[0]
    shared = np.flatnonzero(~switching)
    own = np.flatnonzero(switching)
    n_blocks = shared.size + n_components * own.size
    E = np.zeros((n_components, n_blocks, q))
    E[:, np.arange(shared.size), shared] = 1.0
    for k in range(n_components):
        E[k, shared.size + k * own.size + np.arange(own.size), own] = 1.0
    return E


def joint_least_squares(zz, zx, precisions, switching, old=None, keep=None):
    """Weights ``W`` (K, d, q) maximising ``sum_k tr(P_k (2 W_k X_k' -
    W_k Z_k W_k'))`` under the sharing (see the module notes).

    Parameters
    ----------
    zz : ndarray of shape (K, q, q)
        ``Z_k``: weighted regressor moments (with the ridge added).
    zx : ndarray of shape (K, q, d)
        ``X_k'``: weighted regressor-observation moments (with the ridge's
        prior-mean term).
    precisions : ndarray of shape (K, d, d)
    switching : ndarray of bool, shape (q,)
    old : ndarray of shape (K, d, q), optional
        Current weights: the switching columns of the states in ``keep``
        stay at their values (states with no posterior mass).
    keep : ndarray of bool, shape (K,), optional

    Returns
    -------
    W : ndarray of shape (K, d, q)
    """
    k, q, d = zx.shape
    E = selections(switching, k)
    n_blocks = E.shape[1]
    ezz = np.einsum("kbq,kqr,kcr->kbc", E, zz, E)
    A = np.einsum("kbc,kij->bicj", ezz, precisions).reshape(n_blocks * d, -1)
    rhs = np.einsum("kij,kqj,kbq->bi", precisions, zx, E).ravel()
    fixed = np.zeros(n_blocks * d, dtype=bool)
    theta = np.zeros(n_blocks * d)
    if keep is not None and keep.any():
        own = np.flatnonzero(switching)
        shared = int((~switching).sum())
        for s in np.flatnonzero(keep):
            blocks = shared + s * own.size + np.arange(own.size)
            idx = (blocks[:, None] * d + np.arange(d)).ravel()
            fixed[idx] = True
            theta[idx] = old[s][:, own].T.ravel()
    free = ~fixed
    b = rhs[free] - A[np.ix_(free, fixed)] @ theta[fixed]
    theta[free] = np.linalg.lstsq(A[np.ix_(free, free)], b, rcond=None)[0]
    Theta = theta.reshape(n_blocks, d).T
    return np.einsum("ib,kbq->kiq", Theta, E)
