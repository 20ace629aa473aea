"""The registry of emission families that every contract test runs over.

Each :class:`Family` knows how to

- build a model of the family with K states and random parameters set by
  hand through the public attributes (``startprob_``, ``transmat_`` and the
  emission's ``emissionprob_`` / ``means_`` / ``covars_`` / ``lambdas_`` /
  ``weights_``), with ``init_params=""`` so that ``fit`` starts from them;
- draw data (``model.sample`` from a random model of the family, or plain
  NumPy data independent of any model);
- draw random priors for every prior the model accepts;
- compute the *reference* log-emission matrix ``log p(x_t | z_t = k)`` from
  the model's public parameters in plain NumPy (no SciPy, no fasthmm code).

:data:`FAMILIES` holds an entry for every family of fasthmm's registry
(:func:`fasthmm._registry.families`) and for the example family written from
outside the package. A family's entry lives here or in its own test file,
``tests/test_<family>.py``, as a tuple ``FAMILIES`` there: that file is read
for every registered family without an entry here, so a new family gets every
contract test (and the validation, I/O and fuzz tests) from its own file.
"""

import importlib.util
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from exponential_family import ExponentialHMM
from reference import (
    brute_force,
    categorical_loglik,
    gaussian_loglik,
    gmm_full_covars,
    logsumexp,
    path_score,
    random_covars,
    random_spd,
    random_stochastic,
    segmentation_score,
    segmentations,
    semi_markov_path_score,
)
from switching_reference import log_emissions as _switching_reference

import fasthmm
import fasthmm._registry
import fasthmm.em
import fasthmm.hsmm.em

COVARIANCE_TYPES = ("spherical", "diag", "full", "tied")


# -- emission parameters, priors, data and references per kind ------------------


def _categorical_emission(rng, k, d, opts):
    return {"emissionprob_": random_stochastic(rng, (k, d))}


def _categorical_priors(rng, k, d, opts):
    return {"emissionprob_prior": _dirichlet_prior(rng, (k, d))}


def _categorical_data(rng, n, d, opts):
    return rng.integers(0, d, size=(n, 1))


def _categorical_reference(model, X):
    return categorical_loglik(X, model.emissionprob_)


def _gaussian_emission(rng, k, d, opts):
    return {
        "means_": 2.0 * rng.standard_normal((k, d)),
        "covars_": random_covars(rng, opts["covariance_type"], k, d),
    }


def _gaussian_priors(rng, k, d, opts):
    cov = opts["covariance_type"]
    priors = {
        "means_prior": rng.standard_normal((k, d))
        if rng.random() < 0.5
        else float(rng.uniform(-2, 2)),
        "means_weight": float(rng.uniform(0.01, 5.0)),
    }
    kind = rng.choice(["none", "scalar", "array"])
    if kind == "none":
        priors["covars_prior"] = 0.0
    elif kind == "scalar":
        priors["covars_prior"] = float(rng.uniform(1e-3, 2.0))
    elif cov in ("spherical", "diag"):
        priors["covars_prior"] = rng.uniform(
            1e-3, 2.0, (k,) if cov == "spherical" else (k, d)
        )
    else:
        a = rng.standard_normal((d, d) if cov == "tied" else (k, d, d))
        priors["covars_prior"] = a @ np.swapaxes(a, -1, -2) + 0.1 * np.eye(d)
    if rng.random() < 0.5:
        priors["covars_weight"] = float(rng.uniform(0.0, d + 4.0))
    return priors


def _gaussian_data(rng, n, d, opts):
    return rng.standard_normal((n, d)) * rng.uniform(0.2, 3.0, d)


def _gaussian_reference(model, X):
    return gaussian_loglik(X, model.means_, model.covars_, model.covariance_type)


def _poisson_emission(rng, k, d, opts):
    return {"lambdas_": rng.uniform(0.1, 6.0, (k, d))}


def _poisson_priors(rng, k, d, opts):
    return {
        "lambdas_prior": rng.uniform(0.0, 3.0, (k, d)),
        "lambdas_weight": float(rng.uniform(0.0, 2.0)),
    }


def _poisson_data(rng, n, d, opts):
    return rng.poisson(rng.uniform(0.2, 6.0, d), size=(n, d))


def _poisson_reference(model, X):
    """sum_j x_j log(lambda_j) - lambda_j - log(x_j!), by ``math.lgamma``."""
    X = np.asarray(X, dtype=np.int64).reshape(len(X), -1)
    lam = np.asarray(model.lambdas_, dtype=float)
    log_fact = np.array([[math.lgamma(v + 1.0) for v in row] for row in X])
    return X @ np.log(lam).T - lam.sum(axis=1) - log_fact.sum(axis=1)[:, None]


def _multinomial_data(rng, n, d, opts):
    return rng.multinomial(opts["n_trials"], random_stochastic(rng, (d,)), size=n)


def _multinomial_reference(model, X):
    """sum_j x_j log(p_j) + log(n!) - sum_j log(x_j!), by ``math.lgamma``."""
    X = np.asarray(X, dtype=np.int64)
    p = np.asarray(model.emissionprob_, dtype=float)
    out = np.empty((X.shape[0], p.shape[0]))
    for t, row in enumerate(X):
        coef = math.lgamma(row.sum() + 1.0) - sum(math.lgamma(v + 1.0) for v in row)
        for c in range(p.shape[0]):
            terms = [v * math.log(q) if v else 0.0 for v, q in zip(row, p[c])]
            out[t, c] = coef + sum(terms) if np.all(p[c][row > 0] > 0) else -np.inf
    return out


def _gmm_emission(rng, k, d, opts):
    cov, m = opts["covariance_type"], opts["n_mix"]
    if cov == "spherical":
        covars = rng.uniform(0.3, 1.5, (k, m))
    elif cov == "diag":
        covars = rng.uniform(0.3, 1.5, (k, m, d))
    elif cov == "full":
        covars = np.stack([[random_spd(rng, d) for _ in range(m)] for _ in range(k)])
    else:
        covars = np.stack([random_spd(rng, d) for _ in range(k)])
    return {
        "weights_": random_stochastic(rng, (k, m)),
        "means_": 3.0 * rng.standard_normal((k, m, d)),
        "covars_": covars,
    }


def _gmm_priors(rng, k, d, opts):
    """Priors in hmmlearn's parametrisation that add non-negative counts."""
    cov, m = opts["covariance_type"], opts["n_mix"]
    priors = {
        "weights_prior": rng.uniform(1.0, 3.0, (k, m)),
        "means_prior": rng.normal(0, 1, (k, m, d)),
        "means_weight": rng.uniform(0.0, 2.0, (k, m)),
    }

    def spd(shape):
        a = rng.normal(0, 0.2, shape + (d, d))
        return a @ np.swapaxes(a, -1, -2) + 0.5 * np.eye(d)

    if cov == "diag":
        priors["covars_prior"] = rng.uniform(-1.5, 1.0, (k, m, d))
        priors["covars_weight"] = rng.uniform(0.0, 1.0, (k, m, d))
    elif cov == "spherical":
        priors["covars_prior"] = rng.uniform(-(d + 2) / 2, 1.0, (k, m))
        priors["covars_weight"] = rng.uniform(0.0, 1.0, (k, m))
    elif cov == "full":
        priors["covars_prior"] = spd((k, m))
        priors["covars_weight"] = rng.uniform(-(d + 2), 2.0, (k, m))
    else:
        priors["covars_prior"] = spd((k,))
        priors["covars_weight"] = rng.uniform(-(m + d + 1), 2.0, k)
    return priors


def _gmm_reference(model, X):
    """log sum_j w_j N(x; mu_j, Sigma_j), each Gaussian through full matrices."""
    X = np.asarray(X, dtype=float)
    weights, means = np.asarray(model.weights_), np.asarray(model.means_)
    k, m, d = means.shape
    covs = gmm_full_covars(model.covars_, model.covariance_type, k, m, d)
    out = np.empty((X.shape[0], k))
    for s in range(k):
        terms = gaussian_loglik(X, means[s], covs[s], "full")
        with np.errstate(divide="ignore"):
            terms = terms + np.log(weights[s])[None, :]
        out[:, s] = logsumexp(terms, axis=1)
    return out


def _exponential_emission(rng, k, d, opts):
    return {"rates_": rng.uniform(0.2, 5.0, (k, d))}


def _exponential_priors(rng, k, d, opts):
    return {
        "rates_prior": rng.uniform(0.0, 3.0, (k, d)),
        "rates_weight": float(rng.uniform(0.0, 2.0)),
    }


def _exponential_data(rng, n, d, opts):
    return rng.exponential(rng.uniform(0.2, 3.0, d), size=(n, d))


def _exponential_reference(model, X):
    """sum_j log(rate_j) - rate_j x_j."""
    rates = np.asarray(model.rates_, dtype=float)
    return np.log(rates).sum(axis=1) - np.asarray(X, dtype=float) @ rates.T


def _regression_emission(rng, k, d, opts):
    p = opts.get("order", 0) * d
    coef = 0.3 * rng.standard_normal((k, d, p))
    intercept = 2.0 * rng.standard_normal((k, d))
    if not opts.get("switching_coef", True):  # one set shared by the states
        coef[:] = coef[0]
    if not opts.get("switching_intercept", True):
        intercept[:] = intercept[0]
    return {
        "coef_": coef,
        "intercept_": intercept,
        "covars_": random_covars(rng, opts["covariance_type"], k, d),
    }


def _regression_priors(rng, k, d, opts):
    priors = _gaussian_priors(rng, k, d, opts)
    del priors["means_prior"], priors["means_weight"]
    priors["coef_weight"] = float(rng.uniform(0.0, 2.0))
    return priors


def _dirichlet_prior(rng, shape):
    """No prior (1.0), a scalar concentration > 1, or one per entry (>= 1)."""
    kind = rng.choice(["none", "scalar", "array"])
    if kind == "none":
        return 1.0
    if kind == "scalar":
        return float(rng.uniform(1.0, 4.0))
    return 1.0 + 3.0 * rng.random(shape)


# -- hidden chains: what a family's model is built on ----------------------------


def _all_methods():
    from models_helpers import X_METHODS

    return frozenset(X_METHODS) | {"sample", "partial_fit", "stream"}


@dataclass(frozen=True)
class Chain:
    """The hidden chain of a family's models, for the contract tests.

    Attributes
    ----------
    min_components : int
        Fewest states a model can have.
    params : callable (rng, k, options) -> dict
        Random chain parameters, by public attribute name.
    priors : callable (rng, k, options) -> dict
        Random values for every prior on the chain.
    labels : callable (rng, k, n, options) -> (n,) int
        Random state labels the chain can produce.
    brute_force : callable (le, model) -> (ll, best, posteriors)
        Exact quantities of one sequence by enumeration, from the
        log-emissions ``le`` (T, K) and the model's public chain parameters.
    path_score : callable (le, model, path) -> float
        log p(x, z = path) of one sequence.
    expected_stats : callable (params, X, starts) -> fasthmm.stats.Stats
        The E-step of the models' fit.
    unsupported : frozenset of str
        Model methods that raise NotImplementedError for this chain, and
        internal routes its models do not take ("workspace route": the HMM
        kernels' workspace); every test of one is skipped
        (:meth:`Family.require`).
    """

    min_components: int
    params: object
    priors: object
    labels: object
    brute_force: object
    path_score: object
    expected_stats: object
    unsupported: frozenset = frozenset()


def _markov_params(rng, k, opts):
    return {
        "startprob_": random_stochastic(rng, (k,)),
        "transmat_": random_stochastic(rng, (k, k)),
    }


def _markov_priors(rng, k, opts):
    return {
        "startprob_prior": _dirichlet_prior(rng, (k,)),
        "transmat_prior": _dirichlet_prior(rng, (k, k)),
    }


def _markov_brute_force(le, model):
    exact = brute_force(le, model.startprob_, model.transmat_)
    return exact["ll"], exact["best"], exact["posteriors"]


MARKOV = Chain(
    min_components=1,
    params=_markov_params,
    priors=_markov_priors,
    labels=lambda rng, k, n, opts: rng.integers(0, k, size=n),
    brute_force=_markov_brute_force,
    path_score=lambda le, model, path: path_score(
        le, model.startprob_, model.transmat_, path
    ),
    expected_stats=fasthmm.em.expected_stats,
)


def _semi_markov_params(rng, k, opts):
    """Zero-diagonal jumps and durations of the kind in ``opts["duration"]``."""
    transmat = np.zeros((k, k))
    off = ~np.eye(k, dtype=bool)
    transmat[off] = rng.dirichlet(np.ones(k - 1), size=k).ravel()
    params = {"startprob_": random_stochastic(rng, (k,)), "transmat_": transmat}
    kind = opts.get("duration", "nonparametric")
    if kind == "nonparametric":
        params["durationprob_"] = random_stochastic(rng, (k, opts["max_duration"]))
    else:
        params["duration_lambda_"] = rng.uniform(0.2, 3.0, k)
        if kind == "negbinom":
            params["duration_shape_"] = rng.uniform(0.5, 5.0, k)
    return params


def _semi_markov_priors(rng, k, opts):
    priors = _markov_priors(rng, k, opts)
    if opts.get("duration", "nonparametric") == "nonparametric":
        priors["durationprob_prior"] = _dirichlet_prior(rng, (k, opts["max_duration"]))
    return priors


def _semi_markov_labels(rng, k, n, opts):
    """Runs of 1..max_duration steps, no state twice in a row."""
    out, state = [], int(rng.integers(k))
    while len(out) < n:
        out += [state] * int(rng.integers(1, opts["max_duration"] + 1))
        state = (state + int(rng.integers(1, k))) % k
    return np.array(out[:n])


def _semi_markov_brute_force(le, model):
    pmf = np.asarray(model.durationprob_)
    scores = np.array(
        [
            segmentation_score(le, model.startprob_, model.transmat_, pmf, seg)
            for seg in segmentations(*le.shape, pmf.shape[1])
        ]
    )
    paths = [
        np.concatenate([[j] * d for j, d in seg])
        for seg in segmentations(*le.shape, pmf.shape[1])
    ]
    ll = logsumexp(scores)
    post = np.zeros(le.shape)
    for path, score in zip(paths, scores):
        post[np.arange(len(path)), path] += np.exp(score - ll)
    return ll, float(scores.max()), post


SEMI_MARKOV = Chain(
    min_components=2,
    params=_semi_markov_params,
    priors=_semi_markov_priors,
    labels=_semi_markov_labels,
    brute_force=_semi_markov_brute_force,
    path_score=lambda le, model, path: semi_markov_path_score(
        le, model.startprob_, model.transmat_, np.asarray(model.durationprob_), path
    ),
    expected_stats=fasthmm.hsmm.em.expected_stats,
    unsupported=frozenset(
        {"partial_fit", "stream", "sample_posterior", "workspace route"}
    ),
)


# -- the registry -------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """One emission family and everything the contract tests need of it.

    Attributes
    ----------
    name : str
    cls : type
        The fasthmm model class.
    options : dict
        Fixed constructor arguments (``covariance_type``, ``n_mix``).
    n_features : int
        Features (symbols for categorical) of the small default models.
    feature_range : (int, int)
        Range of ``n_features`` the property tests draw from.
    variants : dict
        Constructor arguments the property tests vary, name -> values (the
        default in ``options`` stays the one used by the fixed tests).
    emission : callable (rng, k, d, options) -> dict
        Random emission parameters, by public attribute name.
    priors : callable (rng, k, d, options) -> dict
        Random values for every emission prior of the model.
    data : callable (rng, n, d, options) -> X
        Data independent of any model.
    reference : callable (model, X) -> (n_samples, n_components)
        Log-emissions from the model's public parameters, in plain NumPy.
    stochastic : tuple of str
        Emission parameters whose rows are probability vectors.
    positive : tuple of str
        Emission parameters that must stay strictly positive.
    samples_per_state : int
        Data-initialised fits get at least this many samples per state.
    chain : Chain
        The hidden chain (:data:`MARKOV` for an HMM, :data:`SEMI_MARKOV` for
        a hidden semi-Markov model).
    sequential : bool
        The emission of a row depends on earlier rows of its sequence
        (autoregression): ``reference`` takes the lengths too.
    """

    name: str
    cls: type
    options: dict
    n_features: int
    feature_range: tuple
    emission: object
    priors: object
    data: object
    reference: object
    variants: dict = field(default_factory=dict)
    stochastic: tuple = ()
    positive: tuple = ()
    samples_per_state: int = 1
    chain: Chain = MARKOV
    sequential: bool = False

    def __repr__(self):
        return self.name

    def log_emissions(self, model, X, lengths=None):
        """The reference log-emissions of X (sequences of ``lengths``)."""
        if self.sequential:
            return self.reference(model, X, lengths)
        return self.reference(model, X)

    def supports(self, method):
        """Whether the family's models offer ``method`` (or take a route)."""
        return method not in self.chain.unsupported

    def require(self, method):
        """Skip the calling test if the family's models do not offer ``method``."""
        if not self.supports(method):
            import pytest

            pytest.skip(f"{self.cls.__name__} does not offer {method}")

    def n_states(self, k):
        """``k``, raised to the fewest states the family's models can have."""
        return max(k, self.chain.min_components)

    def labels(self, rng, k, n, options=None):
        """Random state labels the family's chain can produce."""
        return self.chain.labels(rng, k, n, {**self.options, **(options or {})})

    @property
    def letters(self):
        return self.cls._all_letters()

    def make(self, rng, k, d=None, options=None, **kwargs):
        """A model with K states and random parameters set by hand.

        ``init_params=""`` unless given, so ``fit`` starts from them.
        """
        d = self.n_features if d is None else d
        opts = {**self.options, **(options or {})}
        kwargs.setdefault("init_params", "")
        if self.cls in (fasthmm.CategoricalHMM, fasthmm.CategoricalHSMM):
            kwargs.setdefault("n_features", d)
        model = self.cls(k, **opts, **kwargs)
        for name, value in self.chain.params(rng, k, opts).items():
            setattr(model, name, value)
        for name, value in self.emission(rng, k, d, opts).items():
            setattr(model, name, value)
        return model

    def unfitted(self, k, options=None, **kwargs):
        """A model of the family that initialises every parameter from data."""
        return self.cls(k, **{**self.options, **(options or {})}, **kwargs)

    def sample(self, rng, k, n, d=None, options=None):
        """``n`` samples drawn by ``model.sample`` from a random model (of at
        least :meth:`n_states` states)."""
        X, _ = self.make(rng, self.n_states(k), d, options).sample(n, random_state=rng)
        return X

    def random_data(self, rng, n, d=None, options=None):
        d = self.n_features if d is None else d
        return self.data(rng, n, d, {**self.options, **(options or {})})

    def random_priors(self, rng, k, d=None, options=None):
        """Random priors on every parameter (start, transitions, emission)."""
        d = self.n_features if d is None else d
        opts = {**self.options, **(options or {})}
        return {**self.chain.priors(rng, k, opts), **self.priors(rng, k, d, opts)}


def _gaussian(cov):
    return Family(
        name=f"gaussian-{cov}",
        cls=fasthmm.GaussianHMM,
        options={"covariance_type": cov},
        n_features=2,
        feature_range=(1, 3),
        emission=_gaussian_emission,
        priors=_gaussian_priors,
        data=_gaussian_data,
        reference=_gaussian_reference,
    )


def _categorical():
    return Family(
        name="categorical",
        cls=fasthmm.CategoricalHMM,
        options={},
        n_features=3,
        feature_range=(2, 5),
        emission=_categorical_emission,
        priors=_categorical_priors,
        data=_categorical_data,
        reference=_categorical_reference,
        stochastic=("emissionprob_",),
    )


def _poisson():
    return Family(
        name="poisson",
        cls=fasthmm.PoissonHMM,
        options={},
        n_features=2,
        feature_range=(1, 3),
        emission=_poisson_emission,
        priors=_poisson_priors,
        data=_poisson_data,
        reference=_poisson_reference,
        positive=("lambdas_",),
    )


def _gmm(cov):
    return Family(
        name=f"gmm-{cov}",
        cls=fasthmm.GMMHMM,
        options={"covariance_type": cov, "n_mix": 2},
        n_features=2,
        feature_range=(1, 3),
        variants={"n_mix": (1, 2, 3)},
        emission=_gmm_emission,
        priors=_gmm_priors,
        data=_gaussian_data,
        reference=_gmm_reference,
        stochastic=("weights_",),
        samples_per_state=10,
    )


BUILT_IN = (
    _categorical(),
    *(_gaussian(cov) for cov in COVARIANCE_TYPES),
    _poisson(),
    *(_gmm(cov) for cov in COVARIANCE_TYPES),
    Family(
        name="multinomial",
        cls=fasthmm.MultinomialHMM,
        options={"n_trials": 4},
        n_features=3,
        feature_range=(2, 4),
        emission=_categorical_emission,
        priors=_categorical_priors,
        data=_multinomial_data,
        reference=_multinomial_reference,
        stochastic=("emissionprob_",),
    ),
    *(
        replace(
            base,
            name=f"{base.name}-hsmm",
            cls=cls,
            options={**base.options, "max_duration": 4},
            variants={"duration": ("nonparametric", "poisson", "negbinom")},
            chain=SEMI_MARKOV,
        )
        for base, cls in (
            (_gaussian("diag"), fasthmm.GaussianHSMM),
            (_categorical(), fasthmm.CategoricalHSMM),
            (_poisson(), fasthmm.PoissonHSMM),
        )
    ),
    *(
        Family(
            name=f"regression-{cov}",
            cls=fasthmm.RegressionHMM,
            options={"covariance_type": cov},
            n_features=2,
            feature_range=(1, 3),
            emission=_regression_emission,
            priors=_regression_priors,
            data=_gaussian_data,
            reference=_switching_reference,
            chain=replace(MARKOV, unsupported=frozenset({"missing"})),
        )
        for cov in COVARIANCE_TYPES
    ),
    *(
        Family(
            name=f"ar-{cov}",
            cls=fasthmm.ARHMM,
            options={"covariance_type": cov, "order": 1},
            n_features=2,
            feature_range=(1, 3),
            variants={"order": (1, 2)},
            emission=_regression_emission,
            priors=_regression_priors,
            data=_gaussian_data,
            reference=_switching_reference,
            chain=replace(MARKOV, unsupported=frozenset({"stream", "missing"})),
            sequential=True,
        )
        for cov in COVARIANCE_TYPES
    ),
    # A family defined outside fasthmm, by the recipe in docs/architecture.md.
    Family(
        name="exponential",
        cls=ExponentialHMM,
        options={},
        n_features=2,
        feature_range=(1, 3),
        emission=_exponential_emission,
        priors=_exponential_priors,
        data=_exponential_data,
        reference=_exponential_reference,
        positive=("rates_",),
    ),
)


def _shared(name, **sharing):
    """The built-in entry ``name`` with coefficients shared by the states."""
    base = next(f for f in BUILT_IN if f.name == name)
    return replace(base, name=f"{name}-shared", options={**base.options, **sharing})


#: Coefficients shared by the states: one autoregression with switching
#: intercepts and one covariance (the exact joint step), and one mean with a
#: covariance per state (the conditional step given the covariances).
SHARED = (
    _shared("ar-tied", switching_coef=False),
    _shared("regression-full", switching_intercept=False),
)


def _own_file_entries(known):
    """The entries of registered families not in ``known``, from their test files.

    Each ``tests/test_<family>.py`` is loaded as a separate module (it imports
    :class:`Family` from here; pytest imports it again as a test module).
    """
    entries = []
    for name, cls in fasthmm._registry.families().items():
        if cls in known:
            continue
        path = Path(__file__).with_name(f"test_{name}.py")
        if not path.exists():
            raise LookupError(
                f"the registered family {name!r} ({cls.__name__}) has no test "
                f"entry: add a Family to tests/families.py or FAMILIES to {path.name}"
            )
        spec = importlib.util.spec_from_file_location(f"_family_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        entries += module.FAMILIES
    return tuple(entries)


FAMILIES = BUILT_IN + SHARED + _own_file_entries({f.cls for f in BUILT_IN})

BY_NAME = {f.name: f for f in FAMILIES}


def representatives(extra=()):
    """One family per model class (its first entry), plus the ``extra`` names."""
    first = {}
    for f in FAMILIES:
        first.setdefault(f.cls, f)
    chosen = list(first.values()) + [BY_NAME[name] for name in extra]
    return {f.name: f for f in chosen}
