"""select_n_components: restarts per K, AIC / BIC, the choice of K.

The data come from a well-separated 3-state Gaussian HMM drawn in plain
NumPy. Expected values are computed here: restarts are refitted
independently from their recorded seeds, and AIC / BIC are written out from
the log-likelihood and a hand count of the free parameters.
"""

import numpy as np
import pytest

from fasthmm import CategoricalHMM, GaussianHMM, SelectionResult, select_n_components

MEANS = np.array([[0.0, 0.0], [7.0, 0.0], [0.0, 7.0]])
TRANSMAT = np.array([[0.90, 0.05, 0.05], [0.05, 0.90, 0.05], [0.05, 0.05, 0.90]])
K_VALUES = [1, 2, 3, 4, 5]
N_RESTARTS = 3


def draw_gaussian_hmm(rng, n_seq, length):
    """Sequences from the 3-state HMM above (unit variances), in plain NumPy."""
    z = np.empty((n_seq, length), dtype=np.int64)
    for i in range(n_seq):
        z[i, 0] = rng.integers(3)
        for t in range(1, length):
            z[i, t] = rng.choice(3, p=TRANSMAT[z[i, t - 1]])
    z = z.reshape(-1)
    return MEANS[z] + rng.normal(size=(z.size, 2)), np.full(n_seq, length)


def template():
    return GaussianHMM(covariance_type="diag", n_iter=30, tol=1e-4)


@pytest.fixture(scope="module")
def data():
    return draw_gaussian_hmm(np.random.default_rng(42), 8, 60)


@pytest.fixture(scope="module")
def result(data):
    X, lengths = data
    return select_n_components(
        template(), X, lengths, k_values=K_VALUES, n_restarts=N_RESTARTS, random_state=7
    )


def n_free_diag(k, d):
    """startprob (k-1) + transmat k(k-1) + means k*d + diagonal variances k*d."""
    return (k - 1) + k * (k - 1) + 2 * k * d


def test_bic_picks_the_true_number_of_states(result):
    assert isinstance(result, SelectionResult)
    assert result.criterion == "bic"
    assert result.best_k == 3
    assert result.best_model is result.models[3]
    assert result.best_model.n_components == 3
    # The chosen model found the three centres.
    order = np.argsort(
        result.best_model.means_[:, 0] + 10 * result.best_model.means_[:, 1]
    )
    np.testing.assert_allclose(result.best_model.means_[order], MEANS, atol=0.3)


def test_best_restart_is_the_maximum_over_independent_refits(result, data):
    X, lengths = data
    assert result.restart_seeds.shape == (len(K_VALUES), N_RESTARTS)
    assert result.restart_log_likelihoods.shape == (len(K_VALUES), N_RESTARTS)
    for i, k in enumerate(K_VALUES):
        refits = []
        for r in range(N_RESTARTS):
            seed = int(result.restart_seeds[i, r])
            model = GaussianHMM(
                n_components=k,
                covariance_type="diag",
                n_iter=30,
                tol=1e-4,
                random_state=seed,
            ).fit(X, lengths)
            refits.append(model.score(X, lengths))
        np.testing.assert_allclose(
            result.restart_log_likelihoods[i], refits, rtol=1e-12
        )
        assert result.best_restart[i] == int(np.argmax(refits))
        assert result.log_likelihood[i] == pytest.approx(max(refits), rel=1e-12)
        assert result.models[k].score(X, lengths) == pytest.approx(
            max(refits), rel=1e-12
        )
    # The restarts differ for K > 1 (different seeds, different starts).
    assert len(np.unique(result.restart_seeds)) == result.restart_seeds.size


def test_criteria_written_out(result, data):
    X, _ = data
    n, d = X.shape
    p = np.array([n_free_diag(k, d) for k in K_VALUES])
    np.testing.assert_array_equal(result.n_parameters, p)
    np.testing.assert_allclose(
        result.aic, -2 * result.log_likelihood + 2 * p, rtol=1e-12
    )
    np.testing.assert_allclose(
        result.bic, -2 * result.log_likelihood + p * np.log(n), rtol=1e-12
    )
    assert result.best_k == K_VALUES[int(np.argmin(result.bic))]


def test_table_has_one_row_per_k_and_marks_the_choice(result):
    lines = str(result).splitlines()
    assert len(lines) == 1 + len(K_VALUES)
    assert "BIC" in lines[0] and "AIC" in lines[0]
    marked = [line for line in lines if "<- best BIC" in line]
    assert len(marked) == 1 and marked[0].split()[0] == "3"
    assert f"{result.bic[2]:.2f}" in marked[0]


def test_template_untouched_and_reproducible(data):
    X, lengths = data
    model = template()
    before = model.get_params()
    a = select_n_components(
        model, X, lengths, k_values=[2, 3], n_restarts=2, random_state=3
    )
    b = select_n_components(
        model,
        X,
        lengths,
        k_values=[2, 3],
        n_restarts=2,
        random_state=np.random.RandomState(3),
    )
    assert model.get_params() == before
    assert not hasattr(model, "means_") or model.means_ is None
    np.testing.assert_array_equal(a.restart_seeds, b.restart_seeds)
    np.testing.assert_array_equal(a.restart_log_likelihoods, b.restart_log_likelihoods)


def test_aic_criterion_and_categorical_model():
    rng = np.random.default_rng(0)
    emission = np.array([[0.8, 0.1, 0.1], [0.1, 0.1, 0.8]])
    z = np.repeat([0, 1, 0, 1], 50)
    X = np.array([rng.choice(3, p=emission[s]) for s in z]).reshape(-1, 1)
    res = select_n_components(
        CategoricalHMM(n_iter=20),
        X,
        k_values=[1, 2, 3],
        n_restarts=2,
        random_state=rng,
        criterion="aic",
    )
    assert res.criterion == "aic"
    assert res.best_k == [1, 2, 3][int(np.argmin(res.aic))]
    # Categorical: (k-1) + k(k-1) + k * (3 symbols - 1) free parameters.
    np.testing.assert_array_equal(res.n_parameters, [2, 7, 14])
    assert res.best_k == 2


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"criterion": "hqc"}, ValueError, "criterion"),
        ({"k_values": []}, ValueError, "k_values"),
        ({"k_values": [0, 1]}, ValueError, "k_values"),
        ({"n_restarts": 0}, ValueError, "n_restarts"),
    ],
)
def test_invalid_arguments(kwargs, error, match):
    X = np.random.default_rng(0).normal(size=(30, 1))
    with pytest.raises(error, match=match):
        select_n_components(template(), X, **kwargs)


def test_invalid_model():
    X = np.zeros((10, 1))
    with pytest.raises(TypeError, match="model"):
        select_n_components(object(), X)
    with pytest.raises(ValueError, match="init_params"):
        select_n_components(GaussianHMM(init_params="st"), X)
