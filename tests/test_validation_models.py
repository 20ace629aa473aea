"""Bad input at the models' public boundary, and degenerate data.

Every check of the spec's "Bad input" list (and issue 5, items 1-2) is tried on
every public method it applies to: the call must raise ValueError / TypeError
whose message names the argument (matched by a regex specific to the check,
so a test fails if the check is removed and something else raises), and a
model whose call failed must be unchanged. Inputs users really pass
(float32 / int32, Fortran-ordered, non-contiguous, Python lists, 1-D X for the
count models) must give exactly what the canonical float64 input gives.
"""

import copy
import functools
import warnings

import numpy as np
import pytest
from families import representatives
from models_helpers import X_METHODS, assert_unchanged, snapshot

import fasthmm
from fasthmm import NotFittedError, models


def _kinds():
    """name -> (constructor, data): small fitted-model recipes per family."""
    rng = np.random.RandomState(0)
    gauss = np.concatenate([rng.normal(0, 1, (20, 2)), rng.normal(3, 1, (20, 2))])
    kinds = {
        "categorical": (
            lambda **kw: models.CategoricalHMM(2, n_iter=3, random_state=0, **kw),
            rng.randint(0, 3, 40),
        ),
        "gaussian": (
            lambda **kw: models.GaussianHMM(2, n_iter=3, random_state=0, **kw),
            gauss,
        ),
        "gaussian-full": (
            lambda **kw: models.GaussianHMM(
                2, covariance_type="full", n_iter=3, random_state=0, **kw
            ),
            gauss,
        ),
    }
    kinds["poisson"] = (
        lambda **kw: models.PoissonHMM(2, n_iter=3, random_state=0, **kw),
        rng.poisson([[1.0, 4.0]], (40, 2)),
    )
    kinds["gmm"] = (
        lambda **kw: models.GMMHMM(2, n_mix=2, n_iter=3, random_state=0, **kw),
        gauss,
    )
    # Every other family of the registry, from its test entry.
    covered = {type(make()) for make, _ in kinds.values()}
    rng = np.random.default_rng(0)  # the entries' data take a Generator
    for name, family in representatives().items():
        if family.cls not in covered:
            kinds[name] = (
                functools.partial(family.unfitted, 2, n_iter=3, random_state=0),
                family.random_data(rng, 40),
            )
    return kinds


KINDS = _kinds()
#: Methods a kind's models do not offer (its test entry's chain says which).
UNSUPPORTED = {name: f.chain.unsupported for name, f in representatives().items()}


def offered(kind, method):
    return method not in UNSUPPORTED.get(kind, ())


FITTED = {name: make().fit(X) for name, (make, X) in KINDS.items()}


def call(model, method, X, lengths=None):
    if method == "fit":
        return model.fit(X, lengths)
    return getattr(model, method)(X, lengths)


# -- X and lengths ----------
def _x_cases(kind):
    X = KINDS[kind][1]
    n = len(X)
    real = np.asarray(X, dtype=float)
    cases = [
        (
            "3-D",
            real.reshape(n, -1, 1)[:, :, None],
            ValueError,
            r"X must be 1-D or 2-D",
        ),
        (
            "NaN",
            np.where(np.arange(n)[:, None] == 3, np.nan, real.reshape(n, -1)),
            ValueError,
            "X must not contain NaN",
        ),
        (
            "inf",
            np.where(np.arange(n)[:, None] == 3, np.inf, real.reshape(n, -1)),
            ValueError,
            "X must be finite",
        ),
        (
            "-inf",
            np.where(np.arange(n)[:, None] == 0, -np.inf, real.reshape(n, -1)),
            ValueError,
            "X must be finite",
        ),
        ("string", "abc", TypeError, "X must be an array of numbers"),
        ("None", None, TypeError, "X must be an array of numbers"),
        ("object", np.array([[object()]] * n), TypeError, "X must hold real numbers"),
        ("complex", real + 1j, TypeError, "X must hold real numbers"),
        (
            "empty",
            real[:0],
            ValueError,
            "X must hold at least one sample|X must hold one symbol",
        ),
        (
            "mixed sequences",
            [np.zeros((3, 2)), np.zeros(3)],
            ValueError,
            "the sequences in X must all be 1-D or all be 2-D",
        ),
    ]
    if kind == "categorical":
        cases += [
            (
                "huge symbol",
                np.r_[X[:-1], 1e300],
                ValueError,
                r"X holds 1e\+300, too large for a count or symbol",
            ),
            (
                "negative symbol",
                np.r_[X[:-1], -1],
                ValueError,
                "X must hold non-negative integers",
            ),
            (
                "fractional symbol",
                np.r_[X[:-1], 0.5],
                ValueError,
                "X must hold integers",
            ),
            (
                "symbol out of range",
                np.r_[X[:-1], 3],
                ValueError,
                r"X holds symbol 3, out of range for n_features = 3",
            ),
            (
                "two columns",
                np.c_[X, X],
                ValueError,
                "X must hold one symbol per sample",
            ),
        ]
    elif kind == "poisson":
        cases += [
            (
                "huge count",
                np.r_[X[:-1], [[2.0**53, 0]]],
                ValueError,
                "too large for a count or symbol",
            ),
            (
                "negative count",
                np.r_[X[:-1], [[-1, 0]]],
                ValueError,
                "X must hold non-negative integers",
            ),
            (
                "fractional count",
                np.r_[X[:-1], [[0.5, 0]]],
                ValueError,
                "X must hold integers",
            ),
            ("wrong n_features", X[:, :1], ValueError, "X must have n_features = 2"),
        ]
    elif real.shape[1] > 1:  # one column of symbols has no column to drop
        cases += [
            (
                "wrong n_features",
                real[:, :1],
                ValueError,
                f"X must have n_features = {real.shape[1]}",
            )
        ]
    return cases


def _lengths_cases(n):
    return [
        ("not summing", [n - 5, 4], ValueError, f"lengths must sum to n_samples = {n}"),
        (
            "zero length",
            [n, 0],
            ValueError,
            r"lengths must hold positive lengths, got lengths\[1\] = 0",
        ),
        ("negative", [n + 1, -1], ValueError, "lengths must hold positive lengths"),
        (
            "fractional",
            [n / 2 + 0.5, n / 2 - 0.5],
            TypeError,
            "lengths must hold integers",
        ),
        ("string", ["a"], TypeError, "lengths must hold integers"),
        ("2-D", [[n]], ValueError, "lengths must be a non-empty 1-D array"),
        ("empty", [], ValueError, "lengths must be a non-empty 1-D array"),
        (
            "overflowing sum",
            [2**62, 2**62, n],
            ValueError,
            r"lengths must sum to n_samples .* alone",
        ),
    ]


BAD_X = [
    pytest.param(kind, method, X, exc, match, id=f"{kind}-{method}-{label}")
    for kind in KINDS
    for label, X, exc, match in _x_cases(kind)
    for method in X_METHODS
    if offered(kind, method)
]


@pytest.mark.parametrize("kind, method, X, exc, match", BAD_X)
def test_bad_X_is_rejected_and_model_unchanged(kind, method, X, exc, match):
    model = copy.deepcopy(FITTED[kind])
    before = snapshot(model)
    with pytest.raises(exc, match=match):
        call(model, method, X)
    assert_unchanged(model, before)


BAD_LENGTHS = [
    pytest.param(kind, method, lengths, exc, match, id=f"{kind}-{method}-{label}")
    for kind in KINDS
    for label, lengths, exc, match in _lengths_cases(len(KINDS[kind][1]))
    for method in X_METHODS
    if offered(kind, method)
]


@pytest.mark.parametrize("kind, method, lengths, exc, match", BAD_LENGTHS)
def test_bad_lengths_are_rejected_and_model_unchanged(
    kind, method, lengths, exc, match
):
    model = copy.deepcopy(FITTED[kind])
    before = snapshot(model)
    with pytest.raises(exc, match=match):
        call(model, method, KINDS[kind][1], lengths)
    assert_unchanged(model, before)


@pytest.mark.parametrize("kind", KINDS)
def test_lengths_with_a_list_of_sequences_is_rejected(kind):
    X = KINDS[kind][1]
    with pytest.raises(ValueError, match="lengths must be None when X is a list"):
        FITTED[kind].score([X[:10], X[10:]], [10, len(X) - 10])


# -- not fitted ----------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method", [m for m in X_METHODS if m != "fit"] + ["sample"])
def test_not_fitted_error_before_fit(kind, method):
    if not offered(kind, method):
        pytest.skip(f"{kind} models do not offer {method}")
    make, X = KINDS[kind]
    model = make()
    before = snapshot(model)
    with pytest.raises(NotFittedError, match="fit") as info:
        if method == "sample":
            model.sample(5)
        else:
            call(model, method, X)
    assert isinstance(info.value, ValueError)
    assert_unchanged(model, before)


def test_partly_set_parameters_name_the_missing_one():
    model = models.GaussianHMM(2)
    model.startprob_ = np.array([0.5, 0.5])
    model.transmat_ = np.full((2, 2), 0.5)
    with pytest.raises(NotFittedError, match="means_, covars_ not set"):
        model.score(np.zeros((3, 2)))


# -- inputs users really pass ----------
def _variants(kind, X):
    X = np.asarray(X)
    out = {"list": X.tolist()}
    if X.dtype.kind == "f":
        out["float32"] = X.astype(np.float32)
    else:
        out["int32"] = X.astype(np.int32)
        out["float64 integers"] = X.astype(np.float64)
        out["uint8"] = X.astype(np.uint8)
    if X.ndim == 2:
        out["fortran"] = np.asfortranarray(X)
        wide = np.zeros((X.shape[0], 2 * X.shape[1]), dtype=X.dtype)
        wide[:, ::2] = X
        out["non-contiguous columns"] = wide[:, ::2]
    else:
        out["2-D column"] = X.reshape(-1, 1)
    if kind == "poisson":
        out["1-D single feature"] = X[:, 0]
    strided = np.zeros((2 * X.shape[0],) + X.shape[1:], dtype=X.dtype)
    strided[::2] = X
    out["non-contiguous rows"] = strided[::2]
    return out


ACCEPTED = [
    pytest.param(kind, method, name, id=f"{kind}-{method}-{name}")
    for kind in KINDS
    for name in _variants(kind, KINDS[kind][1])
    for method in ("score", "score_samples", "decode", "filter_proba", "fit")
]


@pytest.mark.parametrize("kind, method, variant", ACCEPTED)
def test_inputs_users_pass_give_the_canonical_result(kind, method, variant):
    X = np.asarray(KINDS[kind][1])
    Xv = _variants(kind, X)[variant]
    # The reference: the same values as a C-contiguous float64 array.
    X = np.ascontiguousarray(np.asarray(Xv, dtype=np.float64))
    if variant == "1-D single feature":  # compare with a one-column model
        X = X.reshape(-1, 1)
        model = KINDS[kind][0]().fit(X)
    else:
        model = copy.deepcopy(FITTED[kind])
    lengths = [len(X) // 2, len(X) - len(X) // 2]
    if method == "fit":
        a = copy.deepcopy(model).fit(X, lengths)
        b = copy.deepcopy(model).fit(Xv, lengths)
        for name in model._param_names():
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        assert a.monitor_.history == b.monitor_.history
        return
    expected = call(model, method, X, lengths)
    got = call(model, method, Xv, lengths)
    if not isinstance(expected, tuple):
        expected, got = (expected,), (got,)
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("kind", KINDS)
def test_list_of_sequences_equals_concatenation_with_lengths(kind):
    model, X = FITTED[kind], np.asarray(KINDS[kind][1])
    parts = [X[:7], X[7:30], X[30:]]
    assert model.score(parts) == model.score(X, [7, 23, len(X) - 30])
    assert model.score([p.tolist() for p in parts]) == model.score(
        X, [7, 23, len(X) - 30]
    )


# -- parameters set by hand ----------
def _hand_set(kind, **params):
    make, X = KINDS[kind]
    model = make(init_params="")
    for name in model._param_names():
        setattr(model, name, copy.deepcopy(getattr(FITTED[kind], name)))
    for name, value in params.items():
        setattr(model, name, value)
    return model, X


BAD_PARAMS = [
    (
        "startprob_",
        np.array([0.5, 0.6]),
        ValueError,
        r"startprob_ must sum to 1 \(within 1e-6\), got a sum of 1\.1",
    ),
    (
        "startprob_",
        np.array([1.5, -0.5]),
        ValueError,
        "startprob_ must be non-negative",
    ),
    (
        "startprob_",
        np.array([np.nan, 1.0]),
        ValueError,
        "startprob_ must not contain NaN",
    ),
    (
        "startprob_",
        np.array([1.0, 0.0, 0.0]),
        ValueError,
        r"startprob_ must have shape \(2,\), got shape \(3,\)",
    ),
    ("startprob_", "ab", TypeError, "startprob_ must be an array of numbers"),
    (
        "transmat_",
        np.array([[1.0, 0.0], [0.0, 0.0]]),
        ValueError,
        r"transmat_ .* row 1 sums to 0\.0 \(an all-zero row\)",
    ),
    (
        "transmat_",
        np.array([[0.5, 0.6], [0.5, 0.5]]),
        ValueError,
        r"every row of transmat_ must sum to 1 .* row 0 sums to 1\.1",
    ),
    (
        "transmat_",
        np.array([[1.2, -0.2], [0.5, 0.5]]),
        ValueError,
        r"transmat_ must be non-negative, got transmat_\[0, 1\] = -0\.2",
    ),
    (
        "transmat_",
        np.array([[np.inf, 0.0], [0.0, 1.0]]),
        ValueError,
        "transmat_ must be finite",
    ),
    ("transmat_", np.eye(3), ValueError, r"transmat_ must have shape \(2, 2\)"),
]
KIND_PARAMS = {
    "categorical": [
        (
            "emissionprob_",
            np.full((2, 3), 0.5),
            ValueError,
            "every row of emissionprob_ must sum to 1",
        ),
        (
            "emissionprob_",
            np.full((3, 3), 1 / 3),
            ValueError,
            r"emissionprob_ must have shape \(2, 3\)",
        ),
    ],
    "gaussian": [
        ("covars_", np.zeros((2, 2)), ValueError, r"covars_ must be positive \('diag'"),
        (
            "covars_",
            np.ones((2, 2, 2)),
            ValueError,
            r"covars_ must have shape \(2, 2\)",
        ),
        ("means_", np.zeros(2), ValueError, r"means_ must have shape \(2, 2\)"),
        ("means_", np.full((2, 2), np.nan), ValueError, "means_ must not contain NaN"),
    ],
    "gaussian-full": [
        (
            "covars_",
            np.array([[[1.0, 2.0], [2.0, 1.0]]] * 2),
            ValueError,
            "covars_ must be positive definite; matrix 0",
        ),
        (
            "covars_",
            np.array([[[1.0, 0.5], [0.0, 1.0]]] * 2),
            ValueError,
            "covars_ must be symmetric",
        ),
    ],
    "poisson": [
        ("lambdas_", -np.ones((2, 2)), ValueError, "lambdas_"),
        (
            "lambdas_",
            np.full((2, 2), np.nan),
            ValueError,
            "lambdas_ must not contain NaN",
        ),
    ],
    "gmm": [
        (
            "weights_",
            np.full((2, 2), 0.7),
            ValueError,
            "every row of weights_ must sum to 1",
        ),
    ],
}
# Values without the parameter's dimensions (n_features cannot be read from them).
KIND_PARAMS["categorical"] += [
    ("emissionprob_", 0.5, ValueError, r"emissionprob_ must be 2-D, got .* shape \(\)"),
    ("emissionprob_", np.full(3, 1 / 3), ValueError, r"emissionprob_ must be 2-D"),
]
KIND_PARAMS["gaussian"] += [
    ("means_", 0.0, ValueError, r"means_ must have shape \(2, .*\), got shape \(\)"),
]
KIND_PARAMS["poisson"] += [
    (
        "lambdas_",
        1.0,
        ValueError,
        r"lambdas_ must have shape \(2, .*\), got shape \(\)",
    ),
]
HAND = [
    pytest.param(
        kind, method, name, value, exc, match, id=f"{kind}-{method}-{name}-{i}"
    )
    for kind in KINDS
    for i, (name, value, exc, match) in enumerate(
        BAD_PARAMS + KIND_PARAMS.get(kind, [])
    )
    for method in ("score", "decode", "fit", "sample")
]


@pytest.mark.parametrize("kind, method, name, value, exc, match", HAND)
def test_bad_hand_set_parameters_are_named(kind, method, name, value, exc, match):
    model, X = _hand_set(kind, **{name: value})
    before = snapshot(model)
    with pytest.raises(exc, match=match):
        if method == "sample":
            model.sample(3)
        else:
            call(model, method, X)
    assert_unchanged(model, before)


# -- hyper-parameters and other arguments ---------------------------------------------
HYPER = [
    ("n_components", 0, ValueError, "n_components must be >= 1, got 0"),
    ("n_components", 2.0, TypeError, "n_components must be an integer"),
    ("n_components", None, TypeError, "n_components must be an integer"),
    ("n_iter", -1, ValueError, "n_iter must be >= 0"),
    ("n_iter", 1.5, TypeError, "n_iter must be an integer"),
    ("tol", "a", TypeError, "tol must be a real number"),
    ("tol", None, TypeError, "tol must be a real number"),
    ("tol", np.nan, ValueError, "tol must be a number, got NaN"),
    ("algorithm", "fast", ValueError, r"algorithm must be one of \['map', 'viterbi'\]"),
    ("implementation", "gpu", ValueError, "implementation must be one of"),
    ("params", "stx", ValueError, r"params may only contain letters .* \['x'\]"),
    ("init_params", 5, TypeError, "init_params must be a string"),
    ("random_state", "seed", TypeError, "random_state must be None, an int"),
    ("random_state", -1, ValueError, r"random_state must be an int in \[0, 2\*\*32\)"),
    ("startprob_prior", np.nan, ValueError, "startprob_prior must not contain NaN"),
    (
        "startprob_prior",
        np.ones(3),
        ValueError,
        r"startprob_prior must be a scalar or an array broadcastable to shape \(2,\)",
    ),
    ("transmat_prior", np.inf, ValueError, "transmat_prior must be finite"),
    (
        "transmat_prior",
        np.ones((2, 2, 2)),
        ValueError,
        r"transmat_prior must be .* shape \(2, 2\), got shape \(2, 2, 2\)",
    ),
]
KIND_HYPER = {
    "categorical": [
        (
            "emissionprob_prior",
            np.nan,
            ValueError,
            "emissionprob_prior must not contain NaN",
        ),
        (
            "emissionprob_prior",
            np.ones((2, 5)),
            ValueError,
            r"emissionprob_prior must be .* shape \(2, 3\)",
        ),
        ("n_features", 0, ValueError, "n_features must be >= 1"),
        (
            "n_features",
            2,
            ValueError,
            "X holds symbol 2, out of range for n_features = 2",
        ),
    ],
    "gaussian": [
        ("covariance_type", "round", ValueError, "covariance_type must be one of"),
        ("min_covar", -1.0, ValueError, "min_covar must be >= 0"),
        ("means_prior", np.nan, ValueError, "means_prior must not contain NaN"),
        (
            "means_weight",
            np.ones(3),
            ValueError,
            "means_weight must be a scalar or broadcastable",
        ),
        (
            "covars_prior",
            np.full((3, 3), 1.0),
            ValueError,
            "covars_prior must be a scalar or",
        ),
        ("covars_weight", np.inf, ValueError, "covars_weight must be finite"),
    ],
    "poisson": [
        ("lambdas_prior", np.nan, ValueError, "lambdas_prior must not contain NaN"),
        ("lambdas_weight", np.inf, ValueError, "lambdas_weight must be finite"),
    ],
    "gmm": [
        ("weights_prior", np.nan, ValueError, "weights_prior must not contain NaN"),
        ("n_mix", 0, ValueError, "n_mix must be >= 1"),
    ],
}


HYPER_CASES = [
    pytest.param(
        kind, method, name, value, exc, match, id=f"{kind}-{method}-{name}-{i}"
    )
    for kind in KINDS
    for i, (name, value, exc, match) in enumerate(HYPER + KIND_HYPER.get(kind, []))
    for method in ("fit", "score")
    if not (
        method == "score"
        and name
        in ("n_iter", "tol", "random_state", "init_params", "params", "n_features")
    )
    and not ("prior" in name or "weight" in name or name in ("min_covar", "n_mix"))
    or method == "fit"
]


@pytest.mark.parametrize("kind, method, name, value, exc, match", HYPER_CASES)
def test_bad_hyperparameters_are_named(kind, method, name, value, exc, match):
    model = copy.deepcopy(FITTED[kind]) if method == "score" else KINDS[kind][0]()
    setattr(model, name, value)
    before = snapshot(model)
    with pytest.raises(exc, match=match):
        call(model, method, KINDS[kind][1])
    assert_unchanged(model, before)


@pytest.mark.parametrize("kind", KINDS)
def test_bad_method_arguments(kind):
    model = copy.deepcopy(FITTED[kind])
    X = KINDS[kind][1]
    before = snapshot(model)
    cases = [
        (lambda: model.sample(0), ValueError, "n_samples must be >= 1, got 0"),
        (lambda: model.sample(2.5), TypeError, "n_samples must be an integer"),
        (
            lambda: model.sample(3, currstate=2),
            ValueError,
            r"currstate must be in \[0, 2\), got 2",
        ),
        (lambda: model.sample(3, currstate=-1), ValueError, "currstate must be >= 0"),
        (
            lambda: model.sample(3, random_state="x"),
            TypeError,
            "random_state must be None",
        ),
        (
            lambda: model.decode(X, algorithm="best"),
            ValueError,
            "algorithm must be one of",
        ),
        (
            lambda: model.fit(X, states=np.zeros(3, int)),
            ValueError,
            r"states must be a 1-D array of length n_samples = 40",
        ),
        (
            lambda: model.fit(X, states=np.full(len(X), 2)),
            ValueError,
            r"states must hold states in \[0, 2\) or -1 .* states\[0\] = 2",
        ),
        (
            lambda: model.fit(X, states=np.full(len(X), 0.5)),
            TypeError,
            "states must hold integers",
        ),
    ]
    if offered(kind, "sample_posterior"):
        cases.append(
            (
                lambda: model.sample_posterior(X, n_samples=0),
                ValueError,
                "n_samples must be >= 1",
            )
        )
    for fn, exc, match in cases:
        with pytest.raises(exc, match=match):
            fn()
        assert_unchanged(model, before)


# -- degenerate data ----------
@pytest.mark.parametrize("kind", KINDS)
def test_more_states_than_samples_is_a_clear_error(kind):
    make, X = KINDS[kind]
    model = copy.deepcopy(FITTED[kind])
    model.n_components = 5
    before = snapshot(model)
    with pytest.raises(
        ValueError, match=r"n_components = 5 exceeds the number of samples \(4\)"
    ):
        model.fit(np.asarray(X)[:4])
    assert_unchanged(model, before)


def _left_right(k):
    t = np.zeros((k, k))
    for i in range(k):
        t[i, i] = 0.6 if i < k - 1 else 1.0
        if i < k - 1:
            t[i, i + 1] = 0.4
    return t


@pytest.mark.parametrize("kind", ["categorical", "gaussian"])
def test_left_right_structural_zeros_stay_zero_through_em(kind):
    rng = np.random.RandomState(5)
    k = 3
    make = {
        "categorical": lambda: models.CategoricalHMM(
            k, init_params="e", n_iter=20, tol=0, random_state=1
        ),
        "gaussian": lambda: models.GaussianHMM(
            k, init_params="mc", n_iter=20, tol=0, random_state=1
        ),
    }[kind]
    # Each sequence walks 0 -> 1 -> 2 with geometric dwell times.
    seqs = []
    for _ in range(6):
        states = np.sort(rng.randint(0, k, 25))
        seqs.append(
            rng.poisson(2 * states + 1)
            if kind == "categorical"
            else rng.normal(3.0 * states, 1.0)[:, None]
        )
    model = make()
    model.startprob_ = np.array([1.0, 0.0, 0.0])
    model.transmat_ = _left_right(k)
    if kind == "categorical":
        model.n_features = int(max(s.max() for s in seqs)) + 1
    model.fit(seqs)
    zeros = _left_right(k) == 0
    assert np.all(model.transmat_[zeros] == 0.0)
    assert np.all(model.startprob_[1:] == 0.0)
    assert model.monitor_.iter >= 2
    # EM did move the free entries away from their start.
    assert not np.allclose(model.transmat_[~zeros], _left_right(k)[~zeros])
    np.testing.assert_allclose(model.transmat_.sum(axis=1), 1.0)


def test_impossible_data_stops_the_fit_atomically():
    """A log-likelihood of -inf stops EM with an error; nothing is changed."""
    model = models.CategoricalHMM(2, init_params="", n_iter=5)
    model.startprob_ = np.array([1.0, 0.0])
    model.transmat_ = np.array([[1.0, 0.0], [0.0, 1.0]])
    model.emissionprob_ = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    X = np.array(
        [0, 1, 0, 2, 1]
    )  # symbol 2 is impossible in state 0, state 1 unreachable
    before = snapshot(model)
    with pytest.raises(
        ValueError, match=r"sequence 0 has zero probability .* parameters are unchanged"
    ):
        model.fit(X)
    assert_unchanged(model, before)
    # ... also when an earlier fit had set the parameters.
    fitted = copy.deepcopy(FITTED["categorical"])
    fitted.init_params = ""
    fitted.startprob_ = np.array([1.0, 0.0])
    fitted.transmat_ = np.eye(2)
    fitted.emissionprob_ = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    before = snapshot(fitted)
    with pytest.raises(ValueError, match="zero probability"):
        fitted.fit(X)
    assert_unchanged(fitted, before)


def test_contradictory_labels_stop_the_fit_atomically():
    model = copy.deepcopy(FITTED["categorical"])
    model.init_params = ""
    model.transmat_ = np.array([[1.0, 0.0], [0.0, 1.0]])
    X = np.asarray(KINDS["categorical"][1])
    labels = np.full(len(X), -1)
    labels[0], labels[5] = 0, 1  # 0 -> 1 is structurally impossible
    before = snapshot(model)
    with pytest.raises(ValueError, match="zero probability"):
        model.fit(X, states=labels)
    assert_unchanged(model, before)


def test_non_finite_m_step_is_a_value_error_and_atomic():
    # Squares of 1e154 sum past the float range: the covariance update overflows.
    model = models.GaussianHMM(1, init_params="", n_iter=3, covars_prior=0)
    model.startprob_ = np.array([1.0])
    model.transmat_ = np.array([[1.0]])
    model.means_ = np.zeros((1, 1))
    model.covars_ = np.array([[1e300]])
    X = np.full((50, 1), 1e154)
    before = snapshot(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the overflow is an error, not a warning
        with pytest.raises(
            ValueError,
            match="M-step produced parameters that fail their check: "
            "covars_ must (be finite|not contain NaN)",
        ):
            model.fit(X)
    assert_unchanged(model, before)


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan, 2.5])
@pytest.mark.parametrize("method", ["fit", "score"])
def test_non_integer_n_components_is_named(method, value):
    model = copy.deepcopy(FITTED["gaussian"])
    model.n_components = value
    before = snapshot(model)
    with pytest.raises(TypeError, match="n_components must be an integer"):
        getattr(model, method)(KINDS["gaussian"][1])
    assert_unchanged(model, before)


def _fit_strictly(model, X):
    """Fit with every warning an error: the fit succeeds or raises ValueError."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(X)


@pytest.mark.parametrize("seed", range(4))
def test_fit_on_data_near_the_float_range_commits_only_valid_parameters(seed):
    # Data at 1e150: squares near 1e300, where the absolute eigenvalue floor
    # min_covar is lost in rounding and a full covariance update can come out
    # indefinite. The fit must then stop with an error, or commit parameters
    # that pass the checks of parameters set by hand.
    rng = np.random.default_rng(seed)
    X = rng.uniform(-10, 10, (rng.integers(6, 12), 3)) * 1e150
    model = models.GMMHMM(
        3, n_mix=2, covariance_type="full", n_iter=3, random_state=seed
    )
    before = snapshot(model)
    try:
        _fit_strictly(model, X)
    except ValueError as exc:
        assert "fit stopped" in str(exc) or "too large in magnitude" in str(exc)
        assert_unchanged(model, before)
        return
    fresh = models.GMMHMM(3, n_mix=2, covariance_type="full", init_params="")
    for name in model._param_names():
        setattr(fresh, name, getattr(model, name))
    assert not np.isnan(fresh.score(X))  # the checks of hand-set parameters pass


@pytest.mark.parametrize("covariance_type", ["spherical", "diag", "full", "tied"])
@pytest.mark.parametrize("family", ["gaussian", "gmm"])
def test_fit_on_data_past_the_float_range_is_one_error_without_warnings(
    family, covariance_type
):
    # At 1e200, squares overflow in k-means and in the data covariance: the
    # user sees one ValueError naming the cause, not RuntimeWarnings first.
    X = np.random.default_rng(0).uniform(-10, 10, (20, 2)) * 1e200
    if family == "gaussian":
        model = models.GaussianHMM(2, covariance_type=covariance_type, n_iter=3)
    else:
        model = models.GMMHMM(2, n_mix=2, covariance_type=covariance_type, n_iter=3)
    before = snapshot(model)
    with pytest.raises(ValueError, match="too large in magnitude"):
        _fit_strictly(model, X)
    assert_unchanged(model, before)


def test_indefinite_m_step_is_a_value_error_and_atomic():
    # A feature that is exactly 0 in every sample (and in every mean), with no
    # covariance prior and min_covar=0: every M-step covariance has an exact
    # zero row and column whatever the rounding of the E-step, so it fails the
    # positive-definiteness check parameters set by hand face.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    X[:, 2] = 0.0
    model = models.GMMHMM(
        2,
        n_mix=2,
        covariance_type="full",
        min_covar=0.0,
        covars_prior=0.0,
        covars_weight=0.0,
        init_params="stw",
        n_iter=3,
        random_state=0,
    )
    model.means_ = rng.normal(size=(2, 2, 3)) * [1.0, 1.0, 0.0]
    model.covars_ = np.tile(np.eye(3), (2, 2, 1, 1))
    before = snapshot(model)
    with pytest.raises(
        ValueError,
        match="M-step produced parameters that fail their check: covars_ must be "
        "positive definite",
    ):
        _fit_strictly(model, X)
    assert_unchanged(model, before)


@pytest.mark.parametrize("covariance_type", ["spherical", "diag", "full", "tied"])
def test_degenerate_initialisation_names_its_cause(covariance_type):
    X = np.ones((10, 2))
    model = models.GaussianHMM(
        2, covariance_type=covariance_type, min_covar=0, covars_prior=0, random_state=0
    )
    before = snapshot(model)
    with pytest.raises(
        ValueError, match=r"^covars_ must be .*\(after initialising covars_ from X"
    ):
        model.fit(X)
    assert_unchanged(model, before)


def test_functional_api_checks_its_arguments():
    le = np.log(np.full((4, 2), 0.5))
    sp, tm = np.array([0.5, 0.5]), np.full((2, 2), 0.5)
    for fn in (
        fasthmm.forward,
        fasthmm.forward_backward,
        fasthmm.forward_filter,
        fasthmm.viterbi,
    ):
        with pytest.raises(
            ValueError, match=r"transmat .* row 1 sums to 0\.0 \(an all-zero row\)"
        ):
            fn(le, sp, np.array([[1.0, 0.0], [0.0, 0.0]]))
        with pytest.raises(
            ValueError, match="lengths must sum to n_samples = 4, got lengths"
        ):
            fn(le, sp, tm, [2**62, 2**62])
        with pytest.raises(ValueError, match="log_emissions must not contain NaN"):
            fn(np.full((4, 2), np.nan), sp, tm)

        # float32, Fortran order, non-contiguous and lists are accepted.
        def as_tuple(result):
            return result if isinstance(result, tuple) else (result,)

        ref = as_tuple(fn(le, sp, tm))
        for variant in (
            le.astype(np.float32),
            np.asfortranarray(le),
            np.repeat(le, 2, axis=1)[:, ::2],
            le.tolist(),
        ):
            got = as_tuple(fn(variant, sp.tolist(), tm.astype(np.float32)))
            for g, r in zip(got, ref):
                np.testing.assert_allclose(g, r, rtol=1e-6)


def _brute_force(le, sp, tm):
    """log p(x) and p(z_t | x) by enumerating every state path in log space."""
    n, k = le.shape
    with np.errstate(divide="ignore"):
        lsp, ltm = np.log(sp), np.log(tm)
    paths = np.array(np.meshgrid(*[np.arange(k)] * n, indexing="ij")).reshape(n, -1).T
    lp = lsp[paths[:, 0]] + le[np.arange(n), paths].sum(axis=1)
    lp = lp + ltm[paths[:, :-1], paths[:, 1:]].sum(axis=1)
    ll = np.logaddexp.reduce(lp)
    w = np.exp(lp - ll)
    post = np.stack(
        [np.bincount(paths[:, t], weights=w, minlength=k) for t in range(n)]
    )
    return ll, post


@pytest.mark.parametrize(
    "le, sp, tm",
    [
        # The only possible start has probability 5e-324: a subnormal normaliser.
        ([[-np.inf, 0.0]], [1.0, 5e-324], np.full((2, 2), 0.5)),
        # The reachable state's weight 1e-300 * e^-30 is subnormal.
        (
            [[0.0, -np.inf, -np.inf], [-np.inf, -30.0, 0.0]],
            [1.0, 0.0, 0.0],
            [[1 - 1e-300, 1e-300, 0.0], [1 / 3] * 3, [1 / 3] * 3],
        ),
        # Subnormal transition probabilities.
        (
            [[-1e4] * 3] * 4 + [[0.0, -1e4, -1e4]] * 2,
            [1 / 3] * 3,
            [[2.2e-309, 1.0, 2.2e-309], [1 / 3] * 3, [1 / 3] * 3],
        ),
    ],
)
def test_subnormal_normalisers_give_no_nan(le, sp, tm):
    """Found by the fuzz suite: 1 / s overflowed for a subnormal normaliser s."""
    le, sp, tm = np.array(le), np.array(sp), np.array(tm)
    ref_ll, ref_post = _brute_force(le, sp, tm)
    ll, post = fasthmm.forward_backward(le, sp, tm)
    np.testing.assert_allclose(ll, ref_ll, rtol=1e-12)
    np.testing.assert_allclose(post, ref_post, atol=1e-12)
    ll_f, filtered = fasthmm.forward_filter(le, sp, tm)
    assert ll_f == ll and np.all(np.isfinite(filtered))
    np.testing.assert_allclose(filtered[-1], ref_post[-1], atol=1e-12)
    np.testing.assert_allclose(filtered.sum(axis=1), 1.0)
