"""Input checks at the public boundary.

Every public function and method of fasthmm calls these before anything
reaches a kernel; kernels never validate. Each check returns the value
converted to the form the kernels expect (contiguous float64 / int64) or raises
``ValueError`` / ``TypeError`` naming the argument, what was expected and what
was received.
"""

import numbers

import numpy as np

STOCHASTIC_ATOL = 1e-6


class NotFittedError(ValueError, AttributeError):
    """Raised when a model is used before it is fitted (or given parameters)."""


def _describe(a):
    a = np.asarray(a)
    return f"an array of shape {a.shape} and dtype {a.dtype}"


def check_int(value, name, minimum=None):
    """Return ``value`` as a Python int, checking it is an integer >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def as_float_array(a, name, ndim=None, allow_neg_inf=False):
    """Convert to a C-contiguous float64 array and check for NaN / inf."""
    if isinstance(a, (str, bytes)) or a is None:
        raise TypeError(f"{name} must be an array of numbers, got {a!r}")
    try:
        arr = np.asarray(a)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise ValueError(f"{name} must be a rectangular array of numbers: {exc}") from None
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_
    ):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must hold real numbers, got complex values")
    if ndim is not None and arr.ndim not in np.atleast_1d(ndim):
        want = " or ".join(f"{d}-D" for d in np.atleast_1d(ndim))
        raise ValueError(f"{name} must be {want}, got {_describe(arr)}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if np.isnan(arr).any():
        raise ValueError(f"{name} must not contain NaN")
    bad = np.isposinf(arr) if allow_neg_inf else np.isinf(arr)
    if bad.any():
        what = "+inf" if allow_neg_inf else "inf"
        raise ValueError(f"{name} must be finite, found {what}")
    return arr


def check_lengths(lengths, n_samples, name="lengths"):
    """Return ``starts`` (int64, shape (n_sequences + 1,)) for a batch.

    Parameters
    ----------
    lengths : None or array-like of int
        Lengths of the concatenated sequences; ``None`` means one sequence.
    n_samples : int
        Number of rows they must add up to.
    """
    if n_samples < 1:
        raise ValueError(f"the input must hold at least one sample, got {n_samples}")
    if lengths is None:
        return np.array([0, n_samples], dtype=np.int64)
    arr = np.asarray(lengths)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of ints, got {_describe(arr)}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise TypeError(f"{name} must hold integers, got {arr!r}")
    elif arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if np.any(arr <= 0):
        i = int(np.flatnonzero(arr <= 0)[0])
        raise ValueError(
            f"{name} must hold positive lengths, got {name}[{i}] = {int(arr[i])}"
        )
    total = int(arr.sum())
    if total != n_samples:
        raise ValueError(
            f"{name} must sum to n_samples = {n_samples}, got a sum of {total}"
        )
    starts = np.zeros(arr.size + 1, dtype=np.int64)
    np.cumsum(arr, out=starts[1:])
    return starts


def check_startprob(startprob, n_components, name="startprob"):
    """Check a probability vector of length n_components."""
    p = as_float_array(startprob, name, ndim=1)
    if p.shape != (n_components,):
        raise ValueError(
            f"{name} must have shape ({n_components},), got shape {p.shape}"
        )
    if np.any(p < 0):
        raise ValueError(f"{name} must be non-negative, got {p}")
    if abs(p.sum() - 1.0) > STOCHASTIC_ATOL:
        raise ValueError(f"{name} must sum to 1 (within 1e-6), got a sum of {p.sum()!r}")
    return p


def check_transmat(transmat, n_components, name="transmat"):
    """Check a row-stochastic (n_components, n_components) matrix."""
    return check_stochastic_rows(transmat, (n_components, n_components), name)


def check_stochastic_rows(matrix, shape, name):
    """Check a non-negative matrix of the given shape whose rows sum to 1."""
    a = as_float_array(matrix, name, ndim=2)
    if a.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got shape {a.shape}")
    if np.any(a < 0):
        i, j = np.argwhere(a < 0)[0]
        raise ValueError(f"{name} must be non-negative, got {name}[{i}, {j}] = {a[i, j]}")
    sums = a.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > STOCHASTIC_ATOL)
    if bad.size:
        i = int(bad[0])
        extra = " (an all-zero row)" if sums[i] == 0 else ""
        raise ValueError(
            f"every row of {name} must sum to 1 (within 1e-6); "
            f"row {i} sums to {sums[i]!r}{extra}"
        )
    return a


def check_log_emissions(log_emissions, name="log_emissions"):
    """Check a (n_samples, n_components) matrix of log-emissions (-inf allowed)."""
    le = as_float_array(log_emissions, name, ndim=2, allow_neg_inf=True)
    if le.shape[0] < 1 or le.shape[1] < 1:
        raise ValueError(
            f"{name} must have at least one row and one column, got shape {le.shape}"
        )
    return le


def check_random_state(random_state, name="random_state"):
    """Return a ``numpy.random.Generator`` or ``RandomState`` for ``random_state``.

    Accepts None, an int, a ``numpy.random.RandomState`` or a
    ``numpy.random.Generator``.
    """
    if random_state is None:
        return np.random.mtrand._rand
    if isinstance(random_state, (np.random.RandomState, np.random.Generator)):
        return random_state
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return np.random.RandomState(int(random_state))
    raise TypeError(
        f"{name} must be None, an int, a numpy RandomState or Generator, "
        f"got {random_state!r}"
    )


def check_sequences(X, lengths, name="X"):
    """Normalise ``X`` given as one array plus lengths, or a list of arrays.

    A list or tuple whose items are NumPy arrays, or whose items do not stack
    into one 1-D or 2-D array, is read as one sequence per item.

    Returns
    -------
    X : array-like
        The concatenated samples (not yet converted to float).
    lengths : ndarray of int or None
    """
    if not _is_sequence_list(X):
        return X, lengths
    if lengths is not None:
        raise ValueError(
            f"lengths must be None when {name} is a list of sequences, "
            f"got lengths={lengths!r}"
        )
    parts = [np.asarray(x) for x in X]
    if len({p.ndim for p in parts}) != 1 or parts[0].ndim not in (1, 2):
        raise ValueError(
            f"the sequences in {name} must all be 1-D or all be 2-D arrays"
        )
    if parts[0].ndim == 2 and len({p.shape[1] for p in parts}) != 1:
        raise ValueError(f"the sequences in {name} must all have the same n_features")
    lens = np.array([p.shape[0] for p in parts], dtype=np.int64)
    return np.concatenate(parts, axis=0), lens


def _is_sequence_list(X):
    if not isinstance(X, (list, tuple)) or len(X) == 0:
        return False
    if all(isinstance(x, np.ndarray) and x.ndim >= 1 for x in X):
        return True
    try:
        arr = np.asarray(X)
    except ValueError:  # ragged
        return True
    return arr.dtype == object or arr.ndim == 3
