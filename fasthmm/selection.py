"""Choosing ``n_components``: fit K = 1..K_max with restarts, compare AIC / BIC.

EM finds a local maximum that depends on its random start, so each K is
fitted from several random starts and the restart with the highest
log-likelihood is kept. The kept fits are then compared by an information
criterion, which trades the log-likelihood against the number of free
parameters (lower is better):

- ``AIC = -2 log L + 2 p``
- ``BIC = -2 log L + p log(n_samples)``

BIC penalises extra states more and is the usual choice for picking K.
"""

from dataclasses import dataclass, field

import numpy as np

from ._progress import Progress
from ._validation import check_choice, check_int, check_random_state

CRITERIA = ("bic", "aic")


@dataclass
class SelectionResult:
    """Outcome of :func:`select_n_components`.

    Attributes
    ----------
    k_values : ndarray of shape (n_k,), int
        The numbers of states tried, in the order given.
    log_likelihood : ndarray of shape (n_k,)
        Log-likelihood of the data under the best restart of each K.
    aic, bic : ndarray of shape (n_k,)
        Information criteria of the best restart of each K.
    n_parameters : ndarray of shape (n_k,), int
        Number of free parameters of each K.
    restart_log_likelihoods : ndarray of shape (n_k, n_restarts)
        Log-likelihood of every restart (``-inf`` for a restart whose fit
        raised; see ``errors``).
    restart_seeds : ndarray of shape (n_k, n_restarts), int
        The ``random_state`` each restart was fitted with: setting
        ``n_components=k`` and ``random_state=seed`` on a copy of the model
        and calling ``fit`` reproduces it.
    best_restart : ndarray of shape (n_k,), int
        Index of the kept restart of each K.
    criterion : {"bic", "aic"}
    best_k : int
        The K with the lowest criterion (the smallest such K on a tie).
    best_model : BaseHMM
        The fitted model of ``best_k``.
    models : dict
        K -> fitted model of its best restart.
    errors : dict
        (K, restart index) -> the exception a failed restart raised.
    """

    k_values: np.ndarray
    log_likelihood: np.ndarray
    aic: np.ndarray
    bic: np.ndarray
    n_parameters: np.ndarray
    restart_log_likelihoods: np.ndarray
    restart_seeds: np.ndarray
    best_restart: np.ndarray
    criterion: str
    best_k: int
    best_model: object = field(repr=False)
    models: dict = field(repr=False)
    errors: dict = field(default_factory=dict, repr=False)

    def table(self):
        """The comparison as a fixed-width text table, one row per K.

        Returns
        -------
        str
        """
        head = (
            f"{'K':>3} {'n_params':>8} {'log-likelihood':>15} {'AIC':>12} "
            f"{'BIC':>12}  restarts (log-likelihood)"
        )
        lines = [head]
        for i, k in enumerate(self.k_values):
            restarts = " ".join(f"{v:.1f}" for v in self.restart_log_likelihoods[i])
            mark = "  <- best " + self.criterion.upper() if k == self.best_k else ""
            lines.append(
                f"{k:>3} {self.n_parameters[i]:>8} {self.log_likelihood[i]:>15.2f} "
                f"{self.aic[i]:>12.2f} {self.bic[i]:>12.2f}  {restarts}{mark}"
            )
        return "\n".join(lines)

    def __str__(self):
        return self.table()


def _seeds(random_state, shape):
    rng = check_random_state(random_state)
    if isinstance(rng, np.random.Generator):
        return rng.integers(0, 2**31 - 1, size=shape)
    return rng.randint(0, 2**31 - 1, size=shape)


def select_n_components(
    model,
    X,
    lengths=None,
    k_values=range(1, 6),
    n_restarts=3,
    random_state=None,
    criterion="bic",
):
    """Fit each number of states with several restarts and compare AIC / BIC.

    Parameters
    ----------
    model : BaseHMM
        A template: it is not modified. Each restart fits a copy built from
        ``model.get_params()`` with ``n_components`` and ``random_state``
        replaced, so every other setting (covariance type, priors, ``n_iter``,
        ``tol``, ...) is shared. ``init_params`` must hold every letter (each
        copy initialises all its parameters from ``X``), and priors given as
        arrays must fit every K tried.
    X : array-like of shape (n_samples, n_features), or a list of sequences
    lengths : array-like of int, optional
    k_values : iterable of int
        The numbers of states to try (each >= 1).
    n_restarts : int
        Random starts per K; the one with the highest log-likelihood is kept.
    random_state : None, int, RandomState or Generator
        Draws the restarts' seeds (see ``SelectionResult.restart_seeds``).
    criterion : {"bic", "aic"}
        Which criterion picks ``best_k``.

    Returns
    -------
    SelectionResult
        Per-K log-likelihood, AIC and BIC, every restart's log-likelihood and
        seed, ``best_k`` and the fitted ``best_model``; ``print(result)``
        shows the table.

    Notes
    -----
    A restart whose fit raises is recorded in ``result.errors`` with
    log-likelihood ``-inf``; if every restart of a K fails, the first error
    is raised.
    """
    from .base import BaseHMM

    if not isinstance(model, BaseHMM):
        raise TypeError(
            f"model must be a fasthmm model (a BaseHMM), got {type(model).__name__}"
        )
    missing = sorted(set(model._all_letters()) - set(model.init_params))
    if missing:
        raise ValueError(
            f"model.init_params must hold every letter ({model._all_letters()!r}) "
            f"so that each K is initialised from X; missing {missing}"
        )
    ks = [check_int(k, "k_values", 1) for k in k_values]
    if not ks:
        raise ValueError("k_values must hold at least one number of states")
    n_restarts = check_int(n_restarts, "n_restarts", 1)
    criterion = check_choice(criterion, "criterion", CRITERIA)
    seeds = _seeds(random_state, (len(ks), n_restarts))

    template = model.get_params()
    n = len(ks)
    ll = np.full((n, n_restarts), -np.inf)
    best = np.zeros(n, dtype=np.int64)
    out = {name: np.empty(n) for name in ("ll", "aic", "bic")}
    n_params = np.zeros(n, dtype=np.int64)
    models, errors = {}, {}
    with Progress(n * n_restarts, "select_n_components") as progress:
        for i, k in enumerate(ks):
            kept = None
            for r in range(n_restarts):
                candidate = type(model)(**template)
                candidate.set_params(n_components=k, random_state=int(seeds[i, r]))
                try:
                    candidate.fit(X, lengths)
                    ll[i, r] = candidate.score(X, lengths)
                except (ValueError, FloatingPointError) as exc:
                    errors[(k, r)] = exc
                    continue
                finally:
                    progress.update(i * n_restarts + r + 1, f"K = {k}")
                if kept is None or ll[i, r] > ll[i, best[i]]:
                    kept, best[i] = candidate, r
            if kept is None:
                raise errors[(k, 0)]
            models[k] = kept
            out["ll"][i] = ll[i, best[i]]
            out["aic"][i] = kept.aic(X, lengths)
            out["bic"][i] = kept.bic(X, lengths)
            n_params[i] = int(round((out["aic"][i] + 2.0 * out["ll"][i]) / 2.0))
    best_k = ks[int(np.argmin(out[criterion]))]
    return SelectionResult(
        k_values=np.array(ks),
        log_likelihood=out["ll"],
        aic=out["aic"],
        bic=out["bic"],
        n_parameters=n_params,
        restart_log_likelihoods=ll,
        restart_seeds=seeds,
        best_restart=best,
        criterion=criterion,
        best_k=best_k,
        best_model=models[best_k],
        models=models,
        errors=errors,
    )
