"""Expectations and KL divergences of the conjugate posteriors of variational
Bayes: Dirichlet rows, Gamma precisions and Wishart precision matrices.

Parametrisation as in hmmlearn's ``vhmm``: a Wishart is given by its degrees
of freedom ``dof`` and its *inverse* scale matrix ``scale`` (so that
``E[precision] = dof * inv(scale)``); a Gamma by its shape and rate.
"""

import numpy as np

from .._special import digamma, gammaln

LOG_PI = np.log(np.pi)
LOG_2 = np.log(2.0)


def expected_log_dirichlet(alpha):
    """E[log p] under Dirichlet rows ``alpha`` (shape (..., n)), same shape."""
    return digamma(alpha) - digamma(alpha.sum(axis=-1, keepdims=True))


def kl_dirichlet(q, p):
    """Sum over rows of KL(Dirichlet(q) || Dirichlet(p)); q, p of shape (..., n)."""
    q_sum = q.sum(axis=-1)
    return float(
        np.sum(
            gammaln(q_sum)
            - gammaln(p.sum(axis=-1))
            - np.sum(gammaln(q) - gammaln(p), axis=-1)
            + np.sum((q - p) * (digamma(q) - digamma(q_sum[..., None])), axis=-1)
        )
    )


def kl_gamma(shape_q, rate_q, shape_p, rate_p):
    """Sum of KL(Gamma(shape_q, rate_q) || Gamma(shape_p, rate_p)), elementwise."""
    return float(
        np.sum(
            (shape_q - shape_p) * digamma(shape_q)
            - gammaln(shape_q)
            + gammaln(shape_p)
            + shape_p * (np.log(rate_q) - np.log(rate_p))
            + shape_q * (rate_p - rate_q) / rate_q
        )
    )


def logdet(matrices):
    """log |A| of a stack of symmetric positive-definite matrices, shape (n,)."""
    return 2.0 * np.log(
        np.diagonal(np.linalg.cholesky(matrices), axis1=-2, axis2=-1)
    ).sum(axis=-1)


def wishart_expected_logdet(dof, scale):
    """E[log |precision|] under Wishart(dof, inverse scale ``scale``).

    Parameters
    ----------
    dof : ndarray of shape (n,)
    scale : ndarray of shape (n, d, d)

    Returns
    -------
    ndarray of shape (n,)
    """
    d = scale.shape[-1]
    half = 0.5 * (dof[:, None] - np.arange(d)[None, :])
    return digamma(half).sum(axis=1) + d * LOG_2 - logdet(scale)


def _wishart_log_norm(dof, scale):
    """log of the Wishart normaliser, per matrix of the stack."""
    d = scale.shape[-1]
    half = 0.5 * (dof[:, None] - np.arange(d)[None, :])
    return (
        0.25 * d * (d - 1) * LOG_PI
        - 0.5 * dof * (logdet(scale) - d * LOG_2)
        + gammaln(half).sum(axis=1)
    )


def kl_wishart(dof_q, scale_q, dof_p, scale_p):
    """Sum over the stack of KL(Wishart(dof_q, scale_q) || Wishart(dof_p, scale_p)).

    Parameters
    ----------
    dof_q, dof_p : ndarray of shape (n,)
    scale_q, scale_p : ndarray of shape (n, d, d)
        Inverse scale matrices.
    """
    d = scale_q.shape[-1]
    trace = np.einsum("nij,nji->n", scale_p, np.linalg.inv(scale_q))
    return float(
        np.sum(
            0.5 * (dof_q - dof_p) * wishart_expected_logdet(dof_q, scale_q)
            - 0.5 * d * dof_q
            + 0.5 * dof_q * trace
            + _wishart_log_norm(dof_p, scale_p)
            - _wishart_log_norm(dof_q, scale_q)
        )
    )
