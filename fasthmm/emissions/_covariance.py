"""Gaussian components with the four covariance types, shared by the Gaussian
and Gaussian-mixture emissions.

Everything here works on a flat stack of ``n`` Gaussian components with means
of shape (n, n_features). ``"tied"`` covariances are shared within groups of
``group_size`` consecutive components: GaussianHMM ties all its states (one
group), GMMHMM ties the mixture components of each state.

Covariance shapes, as in hmmlearn: ``"spherical"`` (n,), ``"diag"``
(n, n_features), ``"full"`` (n, n_features, n_features), ``"tied"``
(n // group_size, n_features, n_features).

The M-step is the exact maximiser of the expected complete-data
log-likelihood plus :func:`log_prior`, which is hmmlearn's estimate:
a normal prior on each mean (``means_prior``, precision scaled by
``means_weight``) and an inverse-gamma / inverse-Wishart-like prior on the
covariances (scale ``covars_prior``, weight ``covars_weight``). Covariances are
floored at ``min_covar`` (eigenvalues for full matrices), which keeps the
update a constrained maximiser, so EM stays monotone.
"""

import numpy as np

from .._kernels import gaussian as _kg
from .._validation import (
    as_float_array,
    check_choice,
    check_positive_definite,
    check_shape,
)
from ._weighted import add_observed_sums, weighted_sums

COVARIANCE_TYPES = ("spherical", "diag", "full", "tied")
LOG_2PI = np.log(2.0 * np.pi)
EMPTY_MASS = 1e-10


def check_settings(covariance_type, min_covar):
    """Check the covariance type and floor shared by the Gaussian emissions.

    Returns
    -------
    covariance_type : str
    min_covar : float
    """
    check_choice(covariance_type, "covariance_type", COVARIANCE_TYPES)
    floor = float(as_float_array(min_covar, "min_covar", ndim=0))
    if not floor >= 0:
        raise ValueError(f"min_covar must be >= 0, got {min_covar!r}")
    return covariance_type, floor


def covars_shape(covariance_type, n, n_features, group_size):
    """Shape of the covariance parameter for ``n`` components."""
    return {
        "spherical": (n,),
        "diag": (n, n_features),
        "full": (n, n_features, n_features),
        "tied": (n // group_size, n_features, n_features),
    }[covariance_type]


def expand_full(covars, covariance_type, n, n_features, group_size):
    """Covariances as full matrices, shape (n, n_features, n_features)."""
    eye = np.eye(n_features)
    if covariance_type == "spherical":
        return covars[:, None, None] * eye
    if covariance_type == "diag":
        return covars[:, :, None] * eye
    if covariance_type == "full":
        return covars
    return np.repeat(covars, group_size, axis=0)


def check_covars(covars, covariance_type, n, n_features, group_size, name="covars_"):
    """Check shape and positive definiteness; return the float64 covariances."""
    check_choice(covariance_type, "covariance_type", COVARIANCE_TYPES)
    shape = covars_shape(covariance_type, n, n_features, group_size)
    cv = check_shape(covars, name, shape)
    if covariance_type in ("spherical", "diag"):
        if np.any(cv <= 0):
            raise ValueError(
                f"{name} must be positive ({covariance_type!r} covariances)"
            )
        scales = cv
    else:
        chol = check_positive_definite(cv, name)
        scales = np.diagonal(chol, axis1=-2, axis2=-1) ** 2
    _check_invertible(scales, name)
    return cv


def _check_invertible(scales, name):
    """Raise ``ValueError`` when a density's precision or log-determinant
    would not be finite: ``scales`` (variances, or squared Cholesky
    diagonals) so small or so large that their inverse or logarithm
    overflows."""
    with np.errstate(divide="ignore", over="ignore"):
        inverse = 1.0 / scales
        log_det = np.log(scales).sum(axis=-1)
    if not (np.isfinite(inverse).all() and np.isfinite(log_det).all()):
        raise ValueError(
            f"{name} is too close to singular (smallest scale "
            f"{float(scales.min())!r}): its inverse or log-determinant is not "
            "finite in float64"
        )


def density_terms(means, covars, covariance_type, group_size):
    """What the density kernels need of the components, computed once.

    Returns
    -------
    diagonal : bool
        True for spherical / diag covariances.
    factors : ndarray of shape (n, n_features) or (n, n_features, n_features)
        Precisions (inverse variances) when ``diagonal``, else the lower
        Cholesky factors of the covariances.
    log_norm : ndarray of shape (n,)
        ``-0.5 * (n_features * log(2 pi) + log det covariance)``.
    """
    n, d = means.shape
    if covariance_type in ("spherical", "diag"):
        var = (
            np.broadcast_to(covars[:, None], (n, d))
            if covariance_type == "spherical"
            else covars
        )
        log_norm = -0.5 * (d * LOG_2PI + np.log(var).sum(axis=1))
        return True, np.ascontiguousarray(1.0 / var), log_norm
    chol = np.linalg.cholesky(expand_full(covars, covariance_type, n, d, group_size))
    log_det = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
    return False, chol, -0.5 * (d * LOG_2PI + log_det)


def log_density(X, means, covars, covariance_type, group_size, out=None, offset=None):
    """Log density of each sample under each component.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    means : ndarray of shape (n, n_features)
    covars : ndarray, shape by covariance type
    covariance_type : str
    group_size : int
    out : ndarray of shape (n_samples, n), optional
    offset : ndarray of shape (n,), optional
        Added to each component's log density (the variational models'
        expected log density is the density at the posterior's mean precision
        plus a per-component constant).

    Returns
    -------
    log_density : ndarray of shape (n_samples, n)
    """
    if out is None:
        out = np.empty((X.shape[0], means.shape[0]))
    diagonal, factors, log_norm = density_terms(
        means, covars, covariance_type, group_size
    )
    if offset is not None:
        log_norm = log_norm + offset
    if diagonal:
        blocks = _kg.diag_log_density_blocks
    else:
        blocks = _kg.cholesky_log_density_blocks
    _kg.log_density(blocks, X, means, factors, log_norm, out)
    return out


def suff_stats(X, weights, covariance_type):
    """Sufficient statistics of Gaussian components under per-component weights.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    weights : ndarray of shape (n_samples, n)

    Returns
    -------
    stats : dict
        ``"post"`` (n,) weight sums, ``"obs"`` (n, n_features) weighted sums
        of X, ``"second"`` weighted second moments: (n, n_features) sums of ``w x**2``
        for spherical/diag, (n, n_features, n_features) sums of ``w x x^T``
        for full/tied.
    """
    post, obs, second = weighted_sums(X, weights, _SECOND[covariance_type])
    return {"post": post, "obs": obs, "second": second}


_SECOND = {"spherical": "diagonal", "diag": "diagonal", "full": "full", "tied": "full"}


def broadcast_prior(value, shape, name):
    """Broadcast a scalar or array prior hyper-parameter to ``shape``.

    The values were checked (finite, real) once per public call; this only
    broadcasts, naming ``name`` when the shapes do not fit.
    """
    arr = np.asarray(value, dtype=np.float64)
    try:
        return np.broadcast_to(arr, shape)
    except ValueError:
        raise ValueError(
            f"{name} must be a scalar or broadcastable to shape {shape}, "
            f"got shape {arr.shape}"
        ) from None


def _prior_matrix(covars_prior, shape, name):
    """A scalar covariance prior scale means ``covars_prior * identity``."""
    arr = np.asarray(covars_prior, dtype=float)
    if arr.ndim == 0:
        return arr * np.broadcast_to(np.eye(shape[-1]), shape)
    return broadcast_prior(arr, shape, name)


def _nu(covariance_type, covars_weight, n_features, shape):
    """Effective degrees of freedom the covariance prior adds to the denominator."""
    offset = 1.0 if covariance_type in ("spherical", "diag") else float(n_features)
    w = broadcast_prior(covars_weight, shape, "covars_weight")
    return np.maximum(w - offset, 0.0)


def _nu_columns(covariance_type, covars_weight, n_features, n):
    """:func:`_nu` for spherical/diag as shape (n, 1); for "diag" a 2-D
    ``covars_weight`` holds one weight per feature, giving shape (n, n_features)."""
    if covariance_type == "diag" and np.ndim(covars_weight) == 2:
        return _nu(covariance_type, covars_weight, n_features, (n, n_features))
    return _nu(covariance_type, covars_weight, n_features, (n,))[:, None]


def means_m_step(post, obs, means_prior, means_weight, old_means):
    """MAP means; components with no posterior mass keep their means.

    Parameters
    ----------
    post : ndarray of shape (n,) or (n, n_features)
        Posterior mass of each component (per feature: of the rows that
        observe it).
    obs : ndarray of shape (n, n_features)
        Posterior-weighted sums of the samples.
    """
    n, d = obs.shape
    m0 = broadcast_prior(means_prior, (n, d), "means_prior")
    w = broadcast_prior(means_weight, (n,), "means_weight")
    denom = w[:, None] + _columns(post)
    empty = denom <= EMPTY_MASS
    means = (w[:, None] * m0 + obs) / np.where(empty, 1.0, denom)
    if old_means is not None and empty.any():
        means = np.where(empty, old_means, means)
    return means


def post_of(stats):
    """The posterior mass the M-step divides by: per feature,
    ``"post_features"`` (n, n_features), when the statistics carry it
    (missing entries), else ``"post"`` (n,)."""
    return stats.get("post_features", stats["post"])


def _columns(post):
    """Posterior mass as (n, 1), or per feature (n, n_features) as given
    (missing entries: the mass of the rows that observe each feature)."""
    return post[:, None] if post.ndim == 1 else post


def covars_m_step(
    covariance_type,
    post,
    obs,
    second,
    means,
    means_prior,
    means_weight,
    covars_prior,
    covars_weight,
    min_covar,
    old_covars,
    group_size,
    scatter_about=None,
):
    """MAP covariances given the (new) means, floored at ``min_covar``.

    Parameters
    ----------
    covariance_type : str
    post : ndarray of shape (n,), or (n, n_features) for spherical / diag
        Posterior mass (per feature: of the rows observing it).
    obs : ndarray of shape (n, n_features)
    second : ndarray
        :func:`suff_stats`' ``"second"``.
    means : ndarray of shape (n, n_features)
    means_prior, means_weight, covars_prior, covars_weight : float or ndarray
    min_covar : float
    old_covars : ndarray or None
        Kept for components (or tied groups) with no posterior mass.
    group_size : int
    scatter_about : ndarray of shape (n, n_features), optional
        Means about which the data's scatter is taken (default: ``means``,
        the maximiser). hmmlearn's mixtures take the previous iteration's.

    Returns
    -------
    covars : ndarray, shape by covariance type
    """
    n, d = means.shape
    c = means if scatter_about is None else scatter_about
    diff = means - broadcast_prior(means_prior, (n, d), "means_prior")
    w = broadcast_prior(means_weight, (n,), "means_weight")
    if covariance_type in ("spherical", "diag"):
        scatter = w[:, None] * diff**2 + second - 2.0 * c * obs + c**2 * _columns(post)
        if covariance_type == "spherical":
            beta = broadcast_prior(covars_prior, (n,), "covars_prior")[:, None]
        else:
            beta = broadcast_prior(covars_prior, (n, d), "covars_prior")
        num = beta + scatter
        if covariance_type == "spherical" and post.ndim == 2:  # per feature
            num = num.sum(axis=1)
            denom = d * _nu(covariance_type, covars_weight, d, (n,)) + post.sum(axis=1)
        elif covariance_type == "spherical":
            num = num.mean(axis=1)
            denom = _nu(covariance_type, covars_weight, d, (n,)) + post
        else:
            denom = _nu_columns(covariance_type, covars_weight, d, n) + _columns(post)
        empty = np.broadcast_to(denom <= EMPTY_MASS, num.shape)
        covars = np.maximum(num / np.where(empty, 1.0, denom), min_covar)
        if old_covars is not None and empty.any():
            covars[empty] = old_covars[empty]
        return covars

    outer = np.einsum("ni,nj->nij", c, obs)
    scatter = (
        w[:, None, None] * np.einsum("ni,nj->nij", diff, diff)
        + second
        - outer
        - np.swapaxes(outer, 1, 2)
        + post[:, None, None] * np.einsum("ni,nj->nij", c, c)
    )
    if covariance_type == "tied":
        g = n // group_size
        scatter = scatter.reshape(g, group_size, d, d).sum(axis=1)
        post = post.reshape(g, group_size).sum(axis=1)
    m = scatter.shape[0]
    psi = _prior_matrix(covars_prior, (m, d, d), "covars_prior")
    denom = _nu(covariance_type, covars_weight, d, (m,)) + post
    empty = denom <= EMPTY_MASS
    covars = (psi + scatter) / np.where(empty, 1.0, denom)[:, None, None]
    covars = floor_eigenvalues(covars, min_covar)
    if old_covars is not None and empty.any():
        covars[empty] = old_covars[empty]
    return covars


#: What hmmlearn adds to a full or tied covariance matrix that is not
#: positive definite before computing densities with it.
HMMLEARN_JITTER = 1e-7


def hmmlearn_fallback(covars, covariance_type):
    """hmmlearn's handling of singular matrices (its M-step has no floor): a
    "full" or "tied" matrix that is not positive definite gets
    :data:`HMMLEARN_JITTER` added to its diagonal; others are returned as they
    are. ``covars`` is a stack of shape (n, d, d) for those types."""
    if covariance_type not in ("full", "tied"):
        return covars
    covars = covars.copy()
    eye = np.eye(covars.shape[-1])
    for i, c in enumerate(covars):
        try:
            np.linalg.cholesky(c)
        except np.linalg.LinAlgError:
            covars[i] = c + HMMLEARN_JITTER * eye
    return covars


def floor_eigenvalues(covars, floor):
    """Raise the eigenvalues of each matrix to at least ``floor`` (only where needed)."""
    covars = 0.5 * (covars + np.swapaxes(covars, 1, 2))
    vals, vecs = np.linalg.eigh(covars)
    low = vals.min(axis=1) < floor
    if low.any():
        v = np.maximum(vals[low], floor)
        covars[low] = np.einsum("nij,nj,nkj->nik", vecs[low], v, vecs[low])
    return covars


def log_prior(
    covariance_type,
    means,
    covars,
    means_prior,
    means_weight,
    covars_prior,
    covars_weight,
    group_size,
):
    """Log prior density (up to a constant) whose maximiser :func:`covars_m_step` is."""
    n, d = means.shape
    diff = means - broadcast_prior(means_prior, (n, d), "means_prior")
    w = broadcast_prior(means_weight, (n,), "means_weight")
    if covariance_type in ("spherical", "diag"):
        if covariance_type == "spherical":
            var = np.broadcast_to(covars[:, None], (n, d))
            beta = broadcast_prior(covars_prior, (n,), "covars_prior")[:, None]
        else:
            var = covars
            beta = broadcast_prior(covars_prior, (n, d), "covars_prior")
        nu = _nu_columns(covariance_type, covars_weight, d, n)
        return float(
            np.sum(
                -(w[:, None] * diff**2 + beta) / (2.0 * var) - 0.5 * nu * np.log(var)
            )
        )
    m = covars.shape[0]
    mean_term = w[:, None, None] * np.einsum("ni,nj->nij", diff, diff)
    if covariance_type == "tied":
        mean_term = mean_term.reshape(m, group_size, d, d).sum(axis=1)
    psi = _prior_matrix(covars_prior, (m, d, d), "covars_prior")
    nu = _nu(covariance_type, covars_weight, d, (m,))
    _, log_det = np.linalg.slogdet(covars)
    trace = np.trace(np.linalg.solve(covars, psi + mean_term), axis1=1, axis2=2)
    return float(np.sum(-0.5 * nu * log_det - 0.5 * trace))


def data_covariance(X, ridge):
    """Covariance of the samples plus ``ridge`` on the diagonal, (d, d).

    One sample has no covariance: the identity (plus ``ridge``) stands in.
    """
    d = X.shape[1]
    if X.shape[0] < 2:
        return np.eye(d) * (1.0 + ridge)
    return np.atleast_2d(np.cov(X.T)) + ridge * np.eye(d)


def initial_covars(X, covariance_type, n, group_size, min_covar):
    """Covariances of the whole data set (plus ``min_covar``), one per component."""
    cv = data_covariance(X, min_covar)
    if covariance_type == "spherical":
        return np.full(n, np.diagonal(cv).mean())
    if covariance_type == "diag":
        return np.tile(np.diagonal(cv), (n, 1))
    if covariance_type == "full":
        return np.tile(cv, (n, 1, 1))
    return np.tile(cv, (n // group_size, 1, 1))


def n_covar_parameters(covariance_type, n, n_features, group_size):
    """Number of free scalars in the covariances."""
    d = n_features
    return {
        "spherical": n,
        "diag": n * d,
        "full": n * d * (d + 1) // 2,
        "tied": (n // group_size) * d * (d + 1) // 2,
    }[covariance_type]


def sample(means, covars, covariance_type, group_size, components, random_state):
    """Draw one sample from each listed component.

    Parameters
    ----------
    components : ndarray of shape (n_samples,), int

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    """
    n, d = means.shape
    chol = np.linalg.cholesky(expand_full(covars, covariance_type, n, d, group_size))
    eps = random_state.standard_normal((components.shape[0], d))
    X = means[components] + np.einsum("nij,nj->ni", chol[components], eps)
    return X


# -- missing entries ------------------------------------------------------------


def marginal_covars(covars, covariance_type, features):
    """Covariances of the marginal over ``features`` (a stack as above)."""
    if covariance_type == "spherical":
        return covars
    if covariance_type == "diag":
        return np.ascontiguousarray(covars[:, features])
    return np.ascontiguousarray(covars[:, features][:, :, features])


#: Entries of the per-component arrays (rows x components x features) of
#: :func:`add_conditional_moments`, per chunk of rows.
CONDITIONAL_CHUNK = 2**20


def add_partial_stats(
    stats, features, X, weights, covariance_type, means, covars, group_size
):
    """Add the statistics of rows observing only ``features``, in place.

    Spherical / diag: the sums over the observed entries, with per-feature
    weights (``stats["post_features"]``). Full / tied: the exact E-step of
    the missing entries, :func:`add_conditional_moments`.

    Parameters
    ----------
    stats : dict
        :func:`suff_stats`' keys (plus ``"post_features"`` for spherical /
        diag) over ``n`` components.
    features : ndarray of int64
    X : ndarray of shape (n_rows, features.size)
    weights : ndarray of shape (n_rows, n)
    covariance_type : str
    means : ndarray of shape (n, n_features)
    covars : ndarray
        The stack of covariances (tied: shape (n // group_size, d, d)).
    group_size : int
    """
    if covariance_type in ("spherical", "diag"):
        add_observed_sums(stats, features, X, weights, second=True)
        return
    n, d = means.shape
    full = expand_full(covars, covariance_type, n, d, group_size)
    add_conditional_moments(stats, features, X, weights, means, full)


def add_conditional_moments(stats, features, X, weights, means, covars):
    """Add expected sums of ``x`` and ``x x^T`` of rows with missing entries.

    Given a component (mean ``mu``, full covariance ``S``) and the observed
    entries ``x_o``, the missing ones are Gaussian with mean
    ``mu_m + S_mo S_oo^-1 (x_o - mu_o)`` and covariance
    ``S_mm - S_mo S_oo^-1 S_om``: the exact E-step of EM for Gaussians with
    missing values, so that the M-step of complete data maximises the
    expected log-likelihood and EM stays monotone.

    Parameters
    ----------
    stats : dict
        ``"post"`` (n,), ``"obs"`` (n, d), ``"second"`` (n, d, d); in place.
    features : ndarray of int64
        The observed features.
    X : ndarray of shape (n_rows, features.size)
    weights : ndarray of shape (n_rows, n)
    means : ndarray of shape (n, d)
    covars : ndarray of shape (n, d, d)
    """
    n, d = means.shape
    o = features
    missing = np.ones(d, dtype=bool)
    missing[o] = False
    m = np.flatnonzero(missing)
    gain = np.linalg.solve(covars[:, o][:, :, o], covars[:, o][:, :, m])
    cond = covars[:, m][:, :, m] - np.einsum(
        "nom,nol->nml", covars[:, o][:, :, m], gain
    )
    post = weights.sum(axis=0)
    stats["post"] += post
    chunk = max(1, CONDITIONAL_CHUNK // (n * d))
    for lo in range(0, X.shape[0], chunk):
        x, w = X[lo : lo + chunk], weights[lo : lo + chunk]
        # each row completed by its conditional mean under each component
        full = np.empty((x.shape[0], n, d))
        full[:, :, o] = x[:, None, :]
        resid = x[:, None, :] - means[None, :, o]
        full[:, :, m] = means[None, :, m] + np.einsum("gno,nom->gnm", resid, gain)
        weighted = (full * w[:, :, None]).transpose(1, 2, 0)  # (n, d, rows)
        stats["obs"] += weighted.sum(axis=2)
        stats["second"] += np.matmul(weighted, full.transpose(1, 0, 2))
    mm = np.ix_(m, m)
    stats["second"][:, mm[0], mm[1]] += post[:, None, None] * cond
