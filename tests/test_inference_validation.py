"""Bad input to the functional API raises ValueError / TypeError naming the
argument, before anything reaches a kernel."""

import numpy as np
import pytest

import fasthmm

FUNCTIONS = [
    fasthmm.forward,
    fasthmm.forward_backward,
    fasthmm.forward_filter,
    fasthmm.viterbi,
]

K = 3
GOOD_LE = np.log(np.full((5, K), 0.5))
GOOD_SP = np.array([0.2, 0.3, 0.5])
GOOD_TM = np.array([[0.8, 0.1, 0.1], [0.0, 0.5, 0.5], [0.3, 0.3, 0.4]])


def _call(fn, le=GOOD_LE, sp=GOOD_SP, tm=GOOD_TM, lengths=None):
    return fn(le, sp, tm, lengths)


def _with(a, index, value):
    a = np.array(a, dtype=np.float64)
    a[index] = value
    return a


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_good_input_is_accepted(fn):
    _call(fn)
    _call(fn, lengths=[2, 3])
    _call(fn, lengths=np.array([1, 1, 3], dtype=np.uint8))
    _call(fn, lengths=[2.0, 3.0])  # integral floats are integers
    _call(fn, lengths=5)  # a scalar is one sequence
    # Rows may be off by less than 1e-6.
    _call(fn, sp=GOOD_SP + np.array([5e-7, 0, 0]))
    _call(fn, tm=_with(GOOD_TM, (1, 1), 0.5 + 5e-7))
    # -inf log-emissions are allowed (an impossible emission).
    _call(fn, le=_with(GOOD_LE, (0, 0), -np.inf))


# fmt: off
BAD_INPUTS = [
    # (description, kwargs, exception, match)
    ("log_emissions 1-D", {"le": np.zeros(5)}, ValueError, r"log_emissions must be 2-D"),
    ("log_emissions 3-D", {"le": np.zeros((5, K, 1))}, ValueError, r"log_emissions must be 2-D"),
    ("log_emissions scalar", {"le": 0.0}, ValueError, r"log_emissions must be 2-D"),
    ("log_emissions no rows", {"le": np.zeros((0, K))}, ValueError, r"log_emissions"),
    ("log_emissions no columns", {"le": np.zeros((5, 0))}, ValueError, r"log_emissions"),
    ("log_emissions NaN", {"le": _with(GOOD_LE, (2, 1), np.nan)}, ValueError, r"log_emissions must not contain NaN"),
    ("log_emissions +inf", {"le": _with(GOOD_LE, (4, 2), np.inf)}, ValueError, r"log_emissions must be finite.*\+inf"),
    ("log_emissions strings", {"le": [["a", "b", "c"]]}, TypeError, r"log_emissions"),
    ("log_emissions None", {"le": None}, TypeError, r"log_emissions"),
    ("log_emissions complex", {"le": GOOD_LE + 1j}, TypeError, r"log_emissions"),
    ("log_emissions ragged", {"le": [[0.0, 0.0, 0.0], [0.0]]}, ValueError, r"log_emissions"),
    ("startprob 2-D", {"sp": GOOD_SP[None, :]}, ValueError, r"startprob must be 1-D"),
    ("startprob wrong K", {"sp": np.array([0.5, 0.5])}, ValueError, r"startprob must have shape \(3,\)"),
    ("log_emissions wrong K", {"le": np.zeros((5, 4))}, ValueError, r"startprob must have shape \(4,\)"),
    ("startprob sum", {"sp": np.array([0.2, 0.3, 0.4])}, ValueError, r"startprob must sum to 1"),
    ("startprob sum just over tolerance", {"sp": GOOD_SP + np.array([2e-6, 0, 0])}, ValueError, r"startprob must sum to 1"),
    ("startprob negative", {"sp": np.array([1.2, -0.2, 0.0])}, ValueError, r"startprob must be non-negative"),
    ("startprob NaN", {"sp": np.array([np.nan, 0.5, 0.5])}, ValueError, r"startprob must not contain NaN"),
    ("startprob inf", {"sp": np.array([np.inf, 0.5, 0.5])}, ValueError, r"startprob must be finite"),
    ("startprob -inf", {"sp": np.array([-np.inf, 0.5, 0.5])}, ValueError, r"startprob must be finite"),
    ("startprob None", {"sp": None}, TypeError, r"startprob"),
    ("transmat 1-D", {"tm": GOOD_TM.ravel()}, ValueError, r"transmat must be 2-D"),
    ("transmat 3-D", {"tm": GOOD_TM[None]}, ValueError, r"transmat must be 2-D"),
    ("transmat not square", {"tm": GOOD_TM[:, :2]}, ValueError, r"transmat must have shape \(3, 3\)"),
    ("transmat wrong K", {"tm": np.eye(2)}, ValueError, r"transmat must have shape \(3, 3\)"),
    ("transmat row sum", {"tm": _with(GOOD_TM, (1, 2), 0.4)}, ValueError, r"transmat.*row 1 sums to 0\.9"),
    ("transmat all-zero row", {"tm": _with(GOOD_TM, 2, 0.0)}, ValueError, r"transmat.*row 2 .*all-zero"),
    ("transmat negative", {"tm": _with(_with(GOOD_TM, (0, 1), -0.1), (0, 0), 1.0)}, ValueError, r"transmat must be non-negative.*transmat\[0, 1\]"),
    ("transmat NaN", {"tm": _with(GOOD_TM, (0, 0), np.nan)}, ValueError, r"transmat must not contain NaN"),
    ("transmat inf", {"tm": _with(GOOD_TM, (0, 0), np.inf)}, ValueError, r"transmat must be finite"),
    ("transmat None", {"tm": None}, TypeError, r"transmat"),
    ("lengths sum too small", {"lengths": [2, 2]}, ValueError, r"lengths must sum to n_samples = 5"),
    ("lengths sum too large", {"lengths": [3, 3]}, ValueError, r"lengths must sum to n_samples = 5"),
    ("lengths zero", {"lengths": [5, 0]}, ValueError, r"lengths must hold positive lengths.*lengths\[1\] = 0"),
    ("lengths negative", {"lengths": [6, -1]}, ValueError, r"lengths must hold positive lengths.*lengths\[1\] = -1"),
    ("lengths non-integer", {"lengths": [2.5, 2.5]}, TypeError, r"lengths must hold integers"),
    ("lengths NaN", {"lengths": [np.nan, 5]}, TypeError, r"lengths must hold integers"),
    ("lengths strings", {"lengths": ["2", "3"]}, TypeError, r"lengths must hold integers"),
    ("lengths empty", {"lengths": []}, ValueError, r"lengths must be a non-empty 1-D"),
    ("lengths 2-D", {"lengths": [[2, 3]]}, ValueError, r"lengths must be a non-empty 1-D"),
]
# fmt: on


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    "kwargs, exc, match",
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_is_rejected(fn, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        _call(fn, **kwargs)


def test_errors_say_what_was_received():
    with pytest.raises(ValueError, match=r"shape \(5,\)"):
        fasthmm.forward(np.zeros(5), GOOD_SP, GOOD_TM)
    with pytest.raises(ValueError, match=r"got a sum of 0\.9"):
        fasthmm.forward(GOOD_LE, np.array([0.2, 0.3, 0.4]), GOOD_TM)
    with pytest.raises(ValueError, match=r"got a sum of 4"):
        fasthmm.forward(GOOD_LE, GOOD_SP, GOOD_TM, [2, 2])


def test_impossible_data_is_not_an_input_error():
    # A row of -inf is valid input: forward reports -inf, the others explain.
    le = _with(GOOD_LE, 3, -np.inf)
    assert fasthmm.forward(le, GOOD_SP, GOOD_TM) == -np.inf
    for fn in FUNCTIONS[1:]:
        with pytest.raises(
            ValueError, match=r"sequence 0 of log_emissions has zero probability"
        ):
            fn(le, GOOD_SP, GOOD_TM)
