"""hmmlearn 0.3.3's semantics, for the classes of ``fasthmm.hmm`` and ``fasthmm.vhmm``.

fasthmm's own classes (``fasthmm.GaussianHMM``, ...) keep fasthmm's defaults:
covariances and rates floored in every M-step, ``covars_`` in the covariance
type's own shape, a convergence monitor that follows the EM objective. The
classes of the hmmlearn namespaces mix :class:`HmmlearnSemantics` in front of
the same models and change only what a program written for hmmlearn can see:

- initialisation: hmmlearn's ``startprob_``/``transmat_`` draws
  (``Dirichlet(1 / n_components)``), its emission initialisers (k-means by
  scikit-learn for the Gaussian models, uniform draws for the probability
  rows, a Gamma for Poisson rates) and its order of random draws, so the same
  ``random_state`` gives the same start. Like hmmlearn, the categorical,
  multinomial and Poisson models replace an integer ``random_state`` by the
  ``RandomState`` they drew from;
- ``min_covar`` (and the Poisson rate floor) at initialisation only; a scalar
  ``covars_prior`` of a "full" or "tied" model is added to every matrix entry;
- GaussianHMM's ``covars_`` getter returns full matrices for every covariance
  type, its setter takes the type's own shape (``_covars_`` holds it);
- ``monitor_``: ``history`` holds the log-likelihood of each E-step (without
  the log prior; the variational models' lower bound), ``converged`` is also
  True when ``iter == n_iter``;
- :meth:`~HmmlearnSemantics.sample`: one state then its sample, step by step,
  from the same random stream as hmmlearn;
- pickles written by hmmlearn (0.2.x, 0.3.x) load (``__setstate__``);
- ``implementation="scaling"``: :meth:`fit`, :meth:`score` and
  :meth:`score_samples` raise ValueError where hmmlearn's scaled forward
  pass underflows (a step's normaliser below 1e-300, e.g. an outlier that
  no state can emit in double precision); fasthmm's log-space kernels give
  the answer with ``implementation="log"``.

scikit-learn (which hmmlearn requires) gives hmmlearn's k-means; without it
the Gaussian models fall back to fasthmm's k-means and log a warning once
(then the same seed gives another start than hmmlearn).
"""

import logging

import numpy as np

from ._kmeans import kmeans as fasthmm_kmeans
from .base import BaseHMM
from .em import ConvergenceMonitor, Params, objective
from .emissions import (
    CategoricalEmission,
    GaussianEmission,
    GMMEmission,
    MultinomialEmission,
    PoissonEmission,
)
from .emissions._covariance import expand_full
from .inference import direct_posteriors
from .variational.gaussian import VariationalGaussianEmission

_log = logging.getLogger("fasthmm")


class HmmlearnMonitor(ConvergenceMonitor):
    """hmmlearn's convergence monitor.

    ``history`` holds the log-likelihood of each E-step (the log prior left
    out, so with priors it may go down); ``converged`` is True when the last
    improvement is below ``tol`` or when ``iter == n_iter``.
    """

    def measure(self, params, stats):
        return stats.log_likelihood

    @property
    def converged(self):
        return self.iter == self.n_iter or super().converged

    def __setstate__(self, state):
        """Load a monitor of this class or hmmlearn's ``ConvergenceMonitor``."""
        self.__init__(state["tol"], state["n_iter"], state["verbose"])
        self.history = [float(v) for v in state.get("history", ())]
        self.iter = int(state.get("iter", len(self.history)))


class VariationalHmmlearnMonitor(HmmlearnMonitor):
    """:class:`HmmlearnMonitor` recording the evidence lower bound as hmmlearn's
    variational models do: the Gaussian's without the constant
    ``n_samples * n_features / 2 * log(2 pi)`` of its density."""

    def measure(self, params, stats):
        value = objective(params, stats)
        if isinstance(params.emission, VariationalGaussianEmission):
            d = params.emission.n_features
            value += 0.5 * stats.n_samples * d * np.log(2.0 * np.pi)
        return value


def random_state_of(seed):
    """scikit-learn's ``check_random_state``: None -> NumPy's global
    ``RandomState``, an int -> a new ``RandomState(seed)``, a ``RandomState``
    -> itself."""
    if seed is None or seed is np.random:
        return np.random.mtrand._rand
    if isinstance(seed, (int, np.integer)):
        return np.random.RandomState(seed)
    if isinstance(seed, np.random.RandomState):
        return seed
    raise ValueError(
        f"random_state must be None, an int or a numpy.random.RandomState for "
        f"hmmlearn's semantics, got {seed!r}"
    )


_warned_no_sklearn = []


def _kmeans_centers(X, n_clusters, random_state):
    """hmmlearn's k-means: scikit-learn's ``KMeans(n_init=10)`` cluster centres
    (and labels); fasthmm's k-means when scikit-learn is absent."""
    try:
        from sklearn.cluster import KMeans
    except ImportError:
        if not _warned_no_sklearn:
            _warned_no_sklearn.append(True)
            _log.warning(
                "scikit-learn is not installed: hmmlearn's k-means initialisation "
                "is replaced by fasthmm's (install scikit-learn, e.g. the "
                "'bench' extra, for hmmlearn's starting point)"
            )
        centers = fasthmm_kmeans(X, n_clusters, random_state_of(random_state))
        labels = ((X[:, None, :] - centers[None]) ** 2).sum(axis=2).argmin(axis=1)
        return centers, labels
    km = KMeans(n_clusters=n_clusters, random_state=random_state, n_init=10)
    labels = km.fit_predict(X)
    return km.cluster_centers_, labels


def _data_covariance(X, min_covar):
    d = X.shape[1]
    return np.atleast_2d(np.cov(X.T)) + min_covar * np.eye(d)


def _init_gaussian(model, emission, X, letters):
    new = {}
    k = model.n_components
    if "m" in letters:
        new["means_"] = _kmeans_centers(X, k, model.random_state)[0]
    if "c" in letters:
        cv = _data_covariance(X, emission.min_covar)
        new["covars_"] = {
            "spherical": lambda: np.full(k, cv.mean()),
            "diag": lambda: np.tile(np.diag(cv), (k, 1)),
            "full": lambda: np.tile(cv, (k, 1, 1)),
            "tied": lambda: cv,
        }[emission.covariance_type]()
    return new


def _init_gmm(model, emission, X, letters):
    k, m = model.n_components, emission.n_mix
    centers, labels = _kmeans_centers(X, k, model.random_state)
    cv = None
    means = []
    for label in range(k):
        cluster = X[labels == label]
        if cluster.shape[0] >= m:
            means.append(_kmeans_centers(cluster, m, model.random_state)[0])
        else:  # as hmmlearn: NumPy's global random stream
            if cv is None:
                cv = _data_covariance(X, emission.min_covar)
            centroid = centers.mean(axis=0)
            draw = np.random.multivariate_normal  # noqa: NPY002 (hmmlearn's stream)
            means.append(draw(centroid, cov=cv, size=m))
    new = {}
    if "w" in letters:
        new["weights_"] = np.full((k, m), 1.0 / m)
    if "m" in letters:
        new["means_"] = np.stack(means)
    if "c" in letters:
        cv = _data_covariance(X, emission.min_covar) if cv is None else cv
        new["covars_"] = {
            "spherical": lambda: np.full((k, m), cv.mean()),
            "diag": lambda: np.tile(np.diag(cv), (k, m, 1)),
            "full": lambda: np.tile(cv, (k, m, 1, 1)),
            "tied": lambda: np.tile(cv, (k, 1, 1)),
        }[emission.covariance_type]()
    return new


def _own_stream(model):
    """As hmmlearn's discrete and Poisson models: the model's ``random_state``
    becomes the ``RandomState`` the emission draws from."""
    model.random_state = random_state_of(model.random_state)
    return model.random_state


def _init_rows(model, emission, X, letters):
    rs = _own_stream(model)
    if "e" not in letters:
        return {}
    ep = rs.rand(model.n_components, emission.n_features)
    return {"emissionprob_": ep / ep.sum(axis=1, keepdims=True)}


def _init_poisson(model, emission, X, letters):
    rs = _own_stream(model)
    if "l" not in letters:
        return {}
    mean, var = X.mean(), X.var()
    shape = (model.n_components, emission.n_features)
    return {"lambdas_": rs.gamma(shape=mean**2 / var, scale=var / mean, size=shape)}


#: Emission family -> hmmlearn's initialiser of its parameters.
INITIALIZERS = {
    GaussianEmission: _init_gaussian,
    GMMEmission: _init_gmm,
    CategoricalEmission: _init_rows,
    MultinomialEmission: _init_rows,
    PoissonEmission: _init_poisson,
}


def _sample_one(emission, state, rs, full_covars=None):
    """One sample of ``state``, drawn from ``rs`` as hmmlearn draws it
    (a Gaussian state's covariance is ``full_covars[state]`` when given)."""
    p = emission.params
    if isinstance(emission, GaussianEmission):
        full = _full_covars(emission) if full_covars is None else full_covars
        return rs.multivariate_normal(p["means_"][state], full[state])
    if isinstance(emission, GMMEmission):
        i = rs.choice(emission.n_mix, p=p["weights_"][state])
        covs = p["covars_"]
        d = emission.n_features
        if emission.covariance_type == "tied":
            cov = covs[state]
        else:
            cov = expand_full(covs[state, i][None], emission.covariance_type, 1, d, 1)[
                0
            ]
        return rs.multivariate_normal(p["means_"][state, i], cov)
    if isinstance(emission, CategoricalEmission):
        cdf = np.cumsum(p["emissionprob_"][state])
        return [(cdf > rs.rand()).argmax()]
    if isinstance(emission, MultinomialEmission):
        n_trials = np.unique(np.asarray(emission.n_trials, dtype=object))
        if n_trials.size != 1 or n_trials[0] is None:
            raise ValueError(
                f"sampling needs a single n_trials, got {emission.n_trials!r}"
            )
        return rs.multinomial(int(n_trials[0]), p["emissionprob_"][state])
    return rs.poisson(p["lambdas_"][state])


def _full_covars(emission):
    """A Gaussian emission's covariances as (n_components, d, d) matrices."""
    k, d = emission.n_components, emission.n_features
    c = emission.params["covars_"]
    if emission.covariance_type == "tied":
        return np.broadcast_to(c, (k, d, d))
    return expand_full(c, emission.covariance_type, k, d, 1)


#: hmmlearn's scaled forward pass fails when a step's normaliser is below this.
SCALING_FLOOR = 1e-300


def check_scaling(params, X, starts):
    """Raise where hmmlearn's "scaling" implementation fails: a step whose
    normaliser ``sum_j p(z_t = j | x_<t) p(x_t | z_t = j)`` is below
    :data:`SCALING_FLOOR` (hmmlearn exponentiates the log-emissions without
    a shift, so an outlier no state can emit in double precision stops it).

    Parameters
    ----------
    params : Params
        Checked parameters.
    X : ndarray
        Checked samples.
    starts : ndarray of shape (n_sequences + 1,)

    Raises
    ------
    ValueError
        hmmlearn's message, advising ``implementation="log"``.
    """
    t = params.transitions
    log_emissions = np.asarray(params.emission.log_likelihood(X), dtype=np.float64)
    ll, filtered = direct_posteriors(
        log_emissions, starts, t.startprob, t.transmat, smooth=False
    )
    if ll is None:
        return  # NaN or +inf: the model's own checks report it
    predicted = np.empty_like(filtered)
    with np.errstate(under="ignore", divide="ignore", invalid="ignore"):
        predicted[1:] = filtered[:-1] @ t.transmat
        predicted[starts[:-1]] = t.startprob
        terms = np.log(predicted) + log_emissions
        top = terms.max(axis=1, keepdims=True)
        log_norm = top[:, 0] + np.log(np.exp(terms - top).sum(axis=1))
    if not np.all(log_norm >= np.log(SCALING_FLOOR)):
        raise ValueError(
            "forward pass failed with underflow; consider using "
            "implementation='log' instead"
        )


class HmmlearnBase:
    """What every model of the hmmlearn namespaces shares (module doc): the
    monitor, no floor in the M-step, hmmlearn's scalar covariance prior,
    its sampling stream and its pickles. Written once for every family; what
    depends on the family is in :func:`_sample_one`."""

    _monitor_class = HmmlearnMonitor

    def _emission(self, params):
        emission = super()._emission(params)
        emission.hmmlearn_m_step = True
        prior = getattr(emission, "covars_prior", None)
        if (
            getattr(emission, "covariance_type", None) in ("full", "tied")
            and prior is not None
            and np.ndim(prior) == 0
        ):  # hmmlearn adds a scalar prior to every entry
            emission.covars_prior = np.full((1, 1), float(prior))
        return emission

    def _check_scaling(self, X, lengths):
        if self.implementation == "scaling":
            check_scaling(*self._checked_batch(X, lengths))

    def _e_step_of(self, X, starts, clamp, ws, w=None):
        e_step = super()._e_step_of(X, starts, clamp, ws, w)
        if self.implementation != "scaling":
            return e_step

        def checked_e_step(params):
            check_scaling(params, X, starts)
            return e_step(params)

        return checked_e_step

    def score(self, X, lengths=None, **kwargs):
        self._check_scaling(X, lengths)
        return super().score(X, lengths, **kwargs)

    score.__doc__ = BaseHMM.score.__doc__

    def score_samples(self, X, lengths=None, **kwargs):
        self._check_scaling(X, lengths)
        return super().score_samples(X, lengths, **kwargs)

    score_samples.__doc__ = BaseHMM.score_samples.__doc__

    def sample(self, n_samples=1, random_state=None, currstate=None):
        """Draw a sequence as hmmlearn does (same random stream, step by step).

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        states : ndarray of shape (n_samples,)
        """
        params = self._checked_params()
        rs = random_state_of(
            self.random_state if random_state is None else random_state
        )
        t = params.transitions
        # hmmlearn's GaussianHMM draws from its covars_ getter's rows
        full = self.covars_ if isinstance(self, HmmlearnCovars) else None
        trans_cdf = np.cumsum(t.transmat, axis=1)
        if currstate is None:
            currstate = (np.cumsum(t.startprob) > rs.rand()).argmax()
        states = [currstate]
        X = [_sample_one(params.emission, currstate, rs, full)]
        for _ in range(n_samples - 1):
            currstate = (trans_cdf[currstate] > rs.rand()).argmax()
            states.append(currstate)
            X.append(_sample_one(params.emission, currstate, rs, full))
        return np.atleast_2d(X), np.array(states, dtype=int)

    def __setstate__(self, state):
        """Load a pickle of this class or of hmmlearn's (see
        :func:`restore_hmmlearn_state`)."""
        if "memory_budget" in state:
            self.__dict__.update(state)  # pickled by fasthmm
        else:
            restore_hmmlearn_state(self, state)


class HmmlearnSemantics(HmmlearnBase):
    """Mixin giving a fasthmm model hmmlearn 0.3.3's semantics (module doc),
    initialisation included.

    Put in front of a model class: ``class GaussianHMM(HmmlearnSemantics,
    models.GaussianHMM)``. What depends on the family is in
    :data:`INITIALIZERS`.
    """

    def _initialized(
        self, emission, X, starts=None, *, n_values=None, labelled=False, w=None
    ):
        from ._hmmlearn_api import letters_to_initialize

        if w is not None:  # input-driven transitions: fasthmm's initialisation
            return super()._initialized(
                emission, X, starts, n_values=n_values, labelled=labelled, w=w
            )
        n_values = None if labelled else X.size if n_values is None else n_values
        letters = letters_to_initialize(self, emission, n_values)
        rs = random_state_of(self.random_state)
        k = self.n_components
        chain = {}
        if "s" in letters:
            chain["startprob_"] = rs.dirichlet(np.full(k, 1.0 / k))
        if "t" in letters:
            chain["transmat_"] = rs.dirichlet(np.full(k, 1.0 / k), size=k)
        init = INITIALIZERS[type(emission)]
        new = init(self, emission, X, letters)
        transitions = self._transitions({**self._current_params(), **chain})
        transitions.require()
        return Params(transitions.checked(), emission.updated(new).checked())


class HmmlearnVariational(HmmlearnBase):
    """The variational models' hmmlearn semantics: :class:`HmmlearnBase`, the
    lower bound in ``monitor_.history``, and hmmlearn's initial posteriors
    (scikit-learn's k-means, the categorical posterior drawn from a stream
    restarted from the seed); the chain's initial posteriors are already
    hmmlearn's."""

    _monitor_class = VariationalHmmlearnMonitor

    def _emission(self, params):
        emission = super()._emission(params)
        seed = self.random_state
        emission.cluster_centres = lambda X, k, rs: _kmeans_centers(X, k, seed)[0]
        emission.initial_stream = lambda rs: random_state_of(seed)
        emission.hmmlearn_wishart = True
        return emission


class HmmlearnCovars:
    """GaussianHMM's ``covars_`` as hmmlearn's: the getter gives full matrices
    for every covariance type, the setter takes the type's own shape, stored
    in ``_covars_``.

    For "spherical", hmmlearn stores one (equal) variance per feature after
    initialising or fitting, shape (n_components, n_features), and its getter
    flattens whatever is stored: ``covars_`` then has shape
    (n_components * n_features, n_features, n_features), and sampling reads
    ``covars_[state]``. Both are reproduced here (the model's own variances
    are the rows of ``_covars_``).
    """

    @property
    def covars_(self):
        stored = self.__dict__.get("_covars_")
        if stored is None:
            raise AttributeError("covars_")
        stored = np.asarray(stored, dtype=np.float64)
        k, ct = self.n_components, self.covariance_type
        # hmmlearn's fill_covars: only "spherical" reads n_features, the
        # others take the number of features from what is stored
        if ct == "spherical":
            return np.ravel(stored)[:, None, None] * np.eye(self.n_features or 1)
        if ct == "tied":
            return np.array(np.broadcast_to(stored, (k,) + stored.shape))
        if ct == "diag" and stored.ndim == 2:
            return stored[:, :, None] * np.eye(stored.shape[1])
        return stored.copy()

    @covars_.setter
    def covars_(self, value):
        self.__dict__["_covars_"] = None if value is None else np.array(value)

    @property
    def _covars_(self):
        stored = self.__dict__.get("_covars_")
        if stored is None:
            raise AttributeError("_covars_")
        return stored

    @_covars_.setter
    def _covars_(self, value):
        self.covars_ = value

    def _current_params(self):
        params = {
            name: self.__dict__.get("_covars_")
            if name == "covars_"
            else getattr(self, name, None)
            for name in self._param_names()
        }
        c = params.get("covars_")
        if (
            self.covariance_type == "spherical"
            and np.ndim(c) == 2
            and np.shape(c)[0] == self.n_components
        ):  # hmmlearn's stored shape: one (equal) variance per feature
            params["covars_"] = np.asarray(c, dtype=np.float64).mean(axis=1)
        return params

    def _after_fit(self, emission):
        super()._after_fit(emission)
        self._spherical_as_stored_by_hmmlearn()

    def _init(self, X, lengths=None):
        super()._init(X, lengths)
        self._spherical_as_stored_by_hmmlearn()

    def _spherical_as_stored_by_hmmlearn(self):
        """hmmlearn's "spherical" ``_covars_`` after init or fit: the state's
        variance repeated for every feature, shape (n_components, n_features)."""
        if self.covariance_type == "spherical":
            c = np.asarray(self.__dict__["_covars_"], dtype=np.float64)
            self.__dict__["_covars_"] = np.tile(c[:, None], (1, self.n_features))


class UnmappableState(ValueError):
    """A pickled hmmlearn model that fasthmm cannot restore."""


def restore_hmmlearn_state(model, state):
    """Restore ``model`` from the ``__dict__`` of a pickled hmmlearn model.

    hmmlearn 0.2.x and 0.3.x pickle their models' ``__dict__``. Attributes
    that fasthmm stores behind a property (``n_features``, ``_covars_``) go
    through it; those fasthmm derives from others (a variational model's
    ``startprob_``, ``covars_``, ...) are recomputed, not restored;
    constructor arguments the pickle lacks (fasthmm's own, such as
    ``memory_budget``, or ``implementation`` before hmmlearn 0.2.5) take their
    defaults; the monitor becomes this class's. A ``MultinomialHMM`` of
    hmmlearn < 0.2.8 (a categorical model, no ``n_trials``) becomes a
    :class:`fasthmm.hmm.CategoricalHMM`.

    Raises
    ------
    UnmappableState
        When the restored parameters fail fasthmm's checks (naming the
        parameter), or the state is not an hmmlearn model's.
    """
    if not isinstance(state, dict):
        raise UnmappableState(
            f"cannot load a {type(model).__name__} from a pickled state of type "
            f"{type(state).__name__}: expected an hmmlearn model's attributes"
        )
    state = dict(state)
    cls = type(model)
    if cls.__name__ == "MultinomialHMM" and "n_trials" not in state:
        from . import hmm

        _log.warning(
            "this MultinomialHMM was pickled by hmmlearn < 0.2.8, whose "
            "MultinomialHMM is a categorical model: loaded as a CategoricalHMM"
        )
        model.__class__ = cls = hmm.CategoricalHMM
    monitor = state.pop("monitor_", None)
    import inspect

    for name, param in inspect.signature(cls.__init__).parameters.items():
        if name != "self" and name not in state:
            state[name] = param.default
    deferred = {}
    for name, value in state.items():
        if isinstance(inspect.getattr_static(cls, name, None), property):
            deferred[name] = value
        else:
            model.__dict__[name] = value
    for name, value in deferred.items():
        try:
            setattr(model, name, value)
        except AttributeError:  # derived by fasthmm from the posteriors
            pass
    model.monitor_ = model._monitor_class(model.tol, model.n_iter, model.verbose)
    if monitor is not None:
        model.monitor_.history = [float(v) for v in getattr(monitor, "history", [])]
        model.monitor_.iter = int(getattr(monitor, "iter", 0))
    _check_restored(model)


def _check_restored(model):
    if all(v is None for v in model._current_params().values()):
        return  # never fitted
    try:
        model._checked_params()
    except ValueError as exc:
        raise UnmappableState(
            f"the pickled hmmlearn model cannot be used as a "
            f"fasthmm.{type(model).__name__}: {exc}"
        ) from None


class HmmlearnSymbols:
    """The categorical models' ``n_features`` as hmmlearn's: when not given,
    :meth:`fit` sets it from the data (largest symbol + 1), even when
    ``emissionprob_`` (or its posterior) is set with more columns."""

    def _check_and_set_n_features(self, X):
        """hmmlearn's check of symbols (non-negative integers of any shape),
        setting ``n_features`` from them when not given."""
        X = np.asarray(X)
        if not np.issubdtype(X.dtype, np.integer):
            raise ValueError(f"X must hold integer symbols, got dtype {X.dtype}")
        if X.size and X.min() < 0:
            raise ValueError("X must hold non-negative symbols")
        given = self.__dict__.get("_n_features")
        if given is None:
            self.n_features = int(X.max()) + 1
        elif X.size and X.max() >= given:
            raise ValueError(
                f"X's largest symbol is {X.max()} but the model has "
                f"n_features = {given} symbols"
            )

    def fit(self, X, lengths=None, **kwargs):
        if self.__dict__.get("_n_features") is None:
            from ._validation import check_sequences, check_symbols

            symbols = check_symbols(check_sequences(X, lengths)[0], "X")
            self._check_and_set_n_features(symbols)
        return super().fit(X, lengths, **kwargs)
