"""Input checks at the public boundary.

Every public function and method of fasthmm calls these before anything
reaches a kernel; kernels never validate. Each check returns the value
converted to the form the kernels expect (contiguous float64 / int64) or raises
``ValueError`` / ``TypeError`` naming the argument, what was expected and what
was received.
"""

import math
import numbers
import os
import sys

import numpy as np
from numba import njit

from ._kernels.checks import (
    integer_range,
    integer_range_serial,
    value_range,
    value_range_serial,
)
from ._missing import marked

STOCHASTIC_ATOL = 1e-6
MAX_EXACT_INT = 2.0**53
#: Arrays at least this large are scanned by a parallel kernel (smaller ones
#: by the same scan on the calling thread).
PARALLEL_SCAN = 1 << 16


class NotFittedError(ValueError, AttributeError):
    """Raised when a model is used before it is fitted (or given parameters)."""


def _describe(a):
    a = np.asarray(a)
    return f"an array of shape {a.shape} and dtype {a.dtype}"


@njit(cache=True, nogil=True)
def _is_stochastic(rows, atol):
    """True when every value is finite and >= 0 and each row sums to 1 within ``atol``.

    One pass for the common case; when it says False, the NumPy checks find
    what is wrong and say so.
    """
    for i in range(rows.shape[0]):
        s = 0.0
        for j in range(rows.shape[1]):
            v = rows[i, j]
            if not (v >= 0.0 and v < np.inf):
                return False
            s += v
        if not abs(s - 1.0) <= atol:
            return False
    return True


@njit(cache=True, nogil=True)
def _fill_starts(lengths, n_samples, starts):
    """``starts = [0, cumsum(lengths)]`` when every length is in [1, n_samples]
    and they sum to ``n_samples``; returns whether they do."""
    starts[0] = 0
    for i in range(lengths.shape[0]):
        n = lengths[i]
        if n < 1 or n > n_samples:
            return False
        starts[i + 1] = starts[i] + n
    return starts[lengths.shape[0]] == n_samples


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


def as_float_array(a, name, ndim=None, allow_neg_inf=False, scan=True):
    """Convert to a C-contiguous float64 array and check for NaN / inf.

    ``scan=False`` leaves out the check of the values (for a caller that
    scans them itself, then calls this again, or :func:`check_finite`, for
    the message when needed).
    """
    if (
        type(a) is np.ndarray
        and a.dtype == np.float64
        and a.flags.c_contiguous
        and (ndim is None or a.ndim == ndim)
    ):  # already in the kernels' form: only the values to check
        if scan:
            check_finite(a, name, allow_neg_inf)
        return a
    if isinstance(a, (str, bytes)) or a is None:
        raise TypeError(f"{name} must be an array of numbers, got {a!r}")
    try:
        arr = np.asarray(a)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise ValueError(
            f"{name} must be a rectangular array of numbers: {exc}"
        ) from None
    kind = arr.dtype.kind  # b(ool), i(nt), u(int), f(loat), c(omplex), others
    if kind == "O":
        _refuse_missing(arr, name)
    if kind not in "biufc":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if kind == "c":
        raise TypeError(f"{name} must hold real numbers, got complex values")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name} must be {want}, got {_describe(arr)}")
    arr = np.asarray(arr, dtype=np.float64, order="C")
    if scan:
        check_finite(arr, name, allow_neg_inf)
    return arr


def _refuse_missing(arr, name):
    """Raise ``ValueError`` when an object array holds numbers and missing values.

    A DataFrame column holding ``pandas.NA``, ``None`` or NaN among its numbers
    converts to an object array: say so instead of reporting its dtype.
    Anything else (a string, nothing but missing values) is left to the dtype
    check.
    """
    na = getattr(sys.modules.get("pandas"), "NA", None)
    missing, numbers_seen = None, False
    for i, x in enumerate(arr.flat):
        if (
            x is None
            or (na is not None and x is na)
            or (isinstance(x, float) and x != x)
        ):
            missing = (i, x) if missing is None else missing
        elif isinstance(x, numbers.Real):
            numbers_seen = True
        else:
            return
    if missing is not None and numbers_seen:
        i, x = missing
        where = np.unravel_index(i, arr.shape) if arr.ndim else ()
        raise ValueError(
            f"{name} must not contain missing values, found {x!r} at index "
            f"{tuple(int(j) for j in where)}: drop or fill them first"
        )


def check_finite(arr, name, allow_neg_inf=False):
    """Raise ``ValueError`` naming ``name`` when ``arr`` holds NaN or inf.

    Parameters
    ----------
    arr : ndarray of float64
    name : str
    allow_neg_inf : bool
        ``-inf`` is allowed (log-probabilities).
    """
    if arr.size == 0:
        return
    if arr.size >= PARALLEL_SCAN:  # one parallel pass
        has_nan, lo, hi = value_range(arr.reshape(-1))
    else:  # the same scan on this thread: no parallel region to start
        has_nan, lo, hi = value_range_serial(arr.reshape(-1))
    if has_nan:
        raise ValueError(f"{name} must not contain NaN")
    if hi == np.inf or (lo == -np.inf and not allow_neg_inf):
        what = "+inf" if allow_neg_inf else "inf"
        raise ValueError(f"{name} must be finite, found {what}")


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
    if arr.ndim == 1 and arr.size and arr.dtype.kind in "iu":
        starts = np.empty(arr.size + 1, dtype=np.int64)
        if _fill_starts(arr.astype(np.int64, copy=False), n_samples, starts):
            return starts
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D array of ints, got {_describe(arr)}"
        )
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
    if np.any(arr > n_samples):
        i = int(np.flatnonzero(arr > n_samples)[0])
        raise ValueError(
            f"{name} must sum to n_samples = {n_samples}, got {name}[{i}] = "
            f"{int(arr[i])} alone"
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
    p = as_float_array(startprob, name, ndim=1, scan=False)
    if p.shape == (n_components,) and _is_stochastic(
        p.reshape(1, n_components), STOCHASTIC_ATOL
    ):
        return p
    check_finite(p, name)
    if p.shape != (n_components,):
        raise ValueError(
            f"{name} must have shape ({n_components},), got shape {p.shape}"
        )
    if np.any(p < 0):
        raise ValueError(f"{name} must be non-negative, got {p}")
    if abs(p.sum() - 1.0) > STOCHASTIC_ATOL:
        raise ValueError(
            f"{name} must sum to 1 (within 1e-6), got a sum of {float(p.sum())!r}"
        )
    return p


def check_transmat(transmat, n_components, name="transmat"):
    """Check a row-stochastic (n_components, n_components) matrix."""
    return check_stochastic_rows(transmat, (n_components, n_components), name)


def check_stochastic_rows(matrix, shape, name):
    """Check a non-negative matrix of the given shape whose rows sum to 1."""
    a = as_float_array(matrix, name, ndim=2, scan=False)
    if a.shape == tuple(shape) and _is_stochastic(a, STOCHASTIC_ATOL):
        return a
    check_finite(a, name)
    if a.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got shape {a.shape}")
    if np.any(a < 0):
        i, j = np.argwhere(a < 0)[0]
        raise ValueError(
            f"{name} must be non-negative, got {name}[{i}, {j}] = {a[i, j]}"
        )
    sums = a.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > STOCHASTIC_ATOL)
    if bad.size:
        i = int(bad[0])
        extra = " (an all-zero row)" if sums[i] == 0 else ""
        raise ValueError(
            f"every row of {name} must sum to 1 (within 1e-6); "
            f"row {i} sums to {float(sums[i])!r}{extra}"
        )
    return a


def check_log_emissions(log_emissions, name="log_emissions", scan=True):
    """Check a (n_samples, n_components) matrix of log-emissions (-inf allowed).

    ``scan=False`` leaves the NaN / ``+inf`` check to the caller (see
    :func:`as_float_array`).
    """
    le = as_float_array(log_emissions, name, ndim=2, allow_neg_inf=True, scan=scan)
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
    if isinstance(random_state, numbers.Integral) and not isinstance(
        random_state, bool
    ):
        if not 0 <= int(random_state) < 2**32:
            raise ValueError(
                f"{name} must be an int in [0, 2**32), got {int(random_state)}"
            )
        return np.random.RandomState(int(random_state))
    raise TypeError(
        f"{name} must be None, an int, a numpy RandomState or Generator, "
        f"got {random_state!r}"
    )


def check_sequences(X, lengths, name="X"):
    """Normalise ``X`` given as one array plus lengths, or a list of sequences.

    The one rule for what ``X`` means (every method applies it; the user
    guide's "Data" section states it for users):

    - an array-like that is not a Python list or tuple (NumPy array, memmap,
      DataFrame) holds the concatenated samples, one row per sample;
    - a list or tuple of numbers is one sequence of one-feature samples;
    - a list or tuple whose items are arrays is a list of sequences;
    - a list or tuple of lists is a list of sequences when the lists hold
      lists (three levels) or have unequal lengths; a column of samples when
      they hold one number each; rows of samples when they have equal
      lengths and ``lengths`` is given; and ambiguous (ValueError) when they
      have equal lengths and ``lengths`` is None.

    Returns
    -------
    X : array-like
        The concatenated samples (not yet converted to float).
    lengths : ndarray of int or None

    Raises
    ------
    ValueError
        When ``X`` is a list that could be read both ways (the message shows
        both readings and how to write each), or a list of sequences given
        with ``lengths``.
    """
    if not _is_sequence_list(X, lengths, name):
        return X, lengths
    if lengths is not None:
        raise ValueError(
            f"lengths must be None when {name} is a list of sequences, "
            f"got lengths={lengths!r}"
        )
    parts = [np.asarray(x) for x in X]
    if len({p.ndim for p in parts}) != 1 or parts[0].ndim not in (1, 2):
        raise ValueError(
            f"the sequences in {name} must all be 1-D or all be 2-D arrays, got "
            f"sequences with {sorted({p.ndim for p in parts})} dimensions"
        )
    if parts[0].ndim == 2 and len({p.shape[1] for p in parts}) != 1:
        raise ValueError(f"the sequences in {name} must all have the same n_features")
    lens = np.array([p.shape[0] for p in parts], dtype=np.int64)
    if np.any(lens == 0):
        i = int(np.flatnonzero(lens == 0)[0])
        raise ValueError(f"the sequences in {name} must not be empty; {name}[{i}] is")
    return np.concatenate(parts, axis=0), lens


def _is_scalar(x):
    return isinstance(x, (numbers.Number, np.generic)) or (
        isinstance(x, np.ndarray) and x.ndim == 0
    )


def _is_sequence_list(X, lengths, name):
    """Whether ``X`` is a list of sequences (the rule: check_sequences)."""
    if not isinstance(X, (list, tuple)) or len(X) == 0:
        return False
    scalars = [_is_scalar(x) for x in X]
    if all(scalars):
        return False  # one sequence of numbers
    if any(scalars):
        return False  # mixed: the array check reports it
    if any(not isinstance(x, (list, tuple)) for x in X):
        return True  # items are arrays: one sequence each
    try:
        arr = np.asarray(X)
    except ValueError:  # ragged
        return True
    if arr.dtype == object or arr.ndim >= 3:
        return True
    if arr.dtype.kind not in "biufc":
        return False  # not numbers (strings): the array check reports the dtype
    if arr.ndim != 2 or arr.shape[1] == 1 or lengths is not None:
        return False
    n, m = arr.shape
    raise ValueError(
        f"{name} is a list of {n} lists of {m} numbers each, which can be read "
        "two ways, and fasthmm does not guess:\n"
        f"  - {n} samples with {m} features each (rows): pass np.asarray({name}), "
        f"or give lengths (e.g. lengths=[{n}] for one sequence);\n"
        f"  - {n} sequences of {m} one-feature samples: pass a list of arrays, "
        f"[np.asarray(s) for s in {name}] (a list of arrays is always a list of "
        "sequences)."
    )


def check_letters(value, name, allowed):
    """Check a ``params`` / ``init_params`` string of single-letter codes."""
    if not isinstance(value, str):
        raise TypeError(
            f"{name} must be a string of letters from {allowed!r}, got {value!r}"
        )
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ValueError(
            f"{name} may only contain letters from {allowed!r}, got unknown {unknown}"
        )
    return value


#: What the error about NaN in samples adds, under ``missing="raise"``.
NAN_HINT = (
    'pass missing="marginalize" to the model to treat NaN as missing '
    "observations and integrate them out"
)


def check_sample_values(arr, name, missing="raise"):
    """One scan of samples for NaN and infinities; returns whether NaN was found.

    Parameters
    ----------
    arr : ndarray of float64
    name : str
    missing : {"raise", "marginalize", "never"}
        The model's ``missing`` argument: NaN is an error (whose message names
        the option) or a missing observation; "never" for families that take
        no missing observations (the error then offers no option).
        Infinities are always an error.

    Returns
    -------
    has_nan : bool
    """
    if arr.size == 0:
        return False
    scan = value_range if arr.size >= PARALLEL_SCAN else value_range_serial
    has_nan, lo, hi = scan(arr.reshape(-1))
    if has_nan and missing == "raise":
        raise ValueError(f"{name} must not contain NaN ({NAN_HINT})")
    if has_nan and missing == "never":
        raise ValueError(
            f"{name} must not contain NaN (this model takes no missing observations)"
        )
    if hi == np.inf or lo == -np.inf:
        raise ValueError(f"{name} must be finite, found inf")
    return bool(has_nan)


def check_real_samples(X, name="X", n_features=None, missing="raise"):
    """Check real-valued samples; 1-D input is read as one feature.

    Parameters
    ----------
    X : array-like
    name : str
    n_features : int, optional
    missing : {"raise", "marginalize", "never"}
        Whether NaN is an error or a missing entry (see
        :mod:`fasthmm._missing`, :func:`check_sample_values`).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
        A :class:`fasthmm._missing.Gapped` view when it holds NaN.
    """
    arr = as_float_array(X, name, ndim=(1, 2), scan=False)
    has_nan = check_sample_values(arr, name, missing)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(
            f"{name} must hold at least one sample and one feature, got shape {arr.shape}"
        )
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(
            f"{name} must have n_features = {n_features} columns (as the model's "
            f"parameters), got shape {arr.shape}"
        )
    return marked(arr, has_nan)


def check_symbols(X, name="X", n_features=None, missing="raise"):
    """Check categorical symbols: non-negative integers below ``n_features``.

    Accepts shape (n_samples,) or (n_samples, 1).

    Returns
    -------
    X : ndarray of shape (n_samples,), int64
        Float64 with NaN, as a :class:`fasthmm._missing.Gapped` view, when
        ``missing="marginalize"`` and a symbol is missing.
    """
    return _check_counts(X, name, upper=n_features, single_column=True, missing=missing)


def check_counts(X, name="X", n_features=None, missing="raise"):
    """Check count data: non-negative integers, shape (n_samples, n_features).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), int64 values as float64
        A :class:`fasthmm._missing.Gapped` view when ``missing="marginalize"``
        and it holds NaN.
    """
    arr = _check_counts(X, name, upper=None, single_column=False, missing=missing)
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(
            f"{name} must have n_features = {n_features} columns (as the model's "
            f"parameters), got shape {arr.shape}"
        )
    return arr


def _check_counts(X, name, upper, single_column, missing="raise"):
    arr = as_float_array(X, name, ndim=(1, 2), scan=False)
    # One parallel pass over the values (most of a short fit's checks); NaN
    # and infinities get check_sample_values' message.
    scan = integer_range if arr.size >= PARALLEL_SCAN else integer_range_serial
    integers, lo, hi = scan(arr.reshape(-1)) if arr.size else (True, 0, 0)
    has_nan = False
    if not (integers and -np.inf < lo and hi < np.inf):
        has_nan = check_sample_values(arr, name, missing)
        if has_nan:  # missing entries: the observed ones must be integers
            kept = arr[~np.isnan(arr)]
            integers, lo, hi = scan(kept) if kept.size else (True, 0.0, 0.0)
    if arr.ndim == 2:
        if single_column and arr.shape[1] != 1:
            raise ValueError(
                f"{name} must hold one symbol per sample, shape (n_samples,) or "
                f"(n_samples, 1), got shape {arr.shape}"
            )
    if arr.shape[0] < 1 or (arr.ndim == 2 and arr.shape[1] < 1):
        raise ValueError(
            f"{name} must hold at least one sample and one feature, got shape {arr.shape}"
        )
    if not integers:
        raise ValueError(f"{name} must hold integers, got non-integer values")
    if lo < 0:
        raise ValueError(f"{name} must hold non-negative integers, got {lo:g}")
    if hi >= MAX_EXACT_INT:
        raise ValueError(
            f"{name} holds {hi:g}, too large for a count or symbol "
            "(integers must be below 2**53 to be exact in float64)"
        )
    if upper is not None and hi >= upper:
        raise ValueError(
            f"{name} holds symbol {int(hi)}, out of range for "
            f"n_features = {upper} (symbols must be in [0, {upper}))"
        )
    if single_column:
        if has_nan:
            return marked(np.ascontiguousarray(arr.reshape(-1)), True)
        return np.ascontiguousarray(arr.reshape(-1), dtype=np.int64)
    return marked(arr if arr.ndim == 2 else arr.reshape(-1, 1), has_nan)


def check_labels(states, n_samples, n_components, name="states", starts=None):
    """Check state labels for supervised fitting: ints in [-1, n_components).

    Parameters
    ----------
    states : array-like of shape (n_samples,), or a list of per-sequence arrays
        A list or tuple with one array per sequence (as ``X`` may be given)
        is accepted when ``starts`` is given; each array must have its
        sequence's length.
    n_samples, n_components : int
    name : str
    starts : ndarray of shape (n_sequences + 1,), optional
        Sequence boundaries, as returned by :func:`check_lengths`.

    Returns
    -------
    labels : ndarray of shape (n_samples,), int64
    """
    n_seq = None if starts is None else len(starts) - 1
    if (
        isinstance(states, (list, tuple))
        and n_seq is not None
        and n_seq > 1
        and len(states) == n_seq
        and all(np.ndim(s) >= 1 for s in states)
    ):
        parts = [np.asarray(s) for s in states]
        parts = [p.reshape(-1) if p.ndim == 2 and p.shape[1] == 1 else p for p in parts]
        got = [p.shape[0] if p.ndim == 1 else None for p in parts]
        want = np.diff(starts).tolist()
        if got != want:
            raise ValueError(
                f"{name} given as a list must hold one 1-D array per sequence, "
                f"with the sequences' lengths {want}, got lengths {got}"
            )
        states = np.concatenate(parts)
    try:
        arr = np.asarray(states)
    except ValueError:  # ragged nested lists
        raise ValueError(
            f"{name} must be a 1-D array of length n_samples = {n_samples}, or a "
            "list with one array per sequence"
        ) from None
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr.reshape(-1)
    if arr.ndim != 1 or arr.shape[0] != n_samples:
        raise ValueError(
            f"{name} must be a 1-D array of length n_samples = {n_samples}, "
            f"got {_describe(arr)}"
        )
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise TypeError(f"{name} must hold integers (-1 for unknown)")
    elif arr.dtype.kind not in "iu":
        raise TypeError(
            f"{name} must hold integers (-1 for unknown), got dtype {arr.dtype}"
        )
    arr = arr.astype(np.int64)
    bad = (arr < -1) | (arr >= n_components)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} must hold states in [0, {n_components}) or -1 for unknown, "
            f"got {name}[{i}] = {int(arr[i])}"
        )
    return arr


def check_positive_definite(covars, name):
    """Check a stack of symmetric positive-definite matrices.

    Parameters
    ----------
    covars : ndarray of shape (n, n_features, n_features)

    Returns
    -------
    cholesky : ndarray of shape (n, n_features, n_features)
        Lower Cholesky factors.
    """
    if not np.allclose(covars, np.swapaxes(covars, -1, -2), rtol=1e-8, atol=1e-12):
        raise ValueError(f"{name} must be symmetric")
    chol = np.empty_like(covars)
    for i, c in enumerate(covars):
        try:
            chol[i] = np.linalg.cholesky(c)
        except np.linalg.LinAlgError:
            raise ValueError(
                f"{name} must be positive definite; matrix {i} is not"
            ) from None
    return chol


def memory_size():
    """Bytes of physical memory of this machine (None when unknown)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not a POSIX system
        return None


def _bytes(n):
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return None  # not reached


def check_allocation(shape, name, value, what, itemsize=8):
    """Refuse an array of ``shape`` larger than this machine's memory, before
    it is allocated.

    Parameters
    ----------
    shape : tuple of int
        The planned array (Python ints: no overflow).
    name, value :
        The argument that sets the size, and its value (for the message).
    what : str
        What the array is for.
    itemsize : int
        Bytes per entry.

    Raises
    ------
    ValueError
        Naming ``name`` when the array would not fit in physical memory.
    """
    need = math.prod(int(n) for n in shape) * itemsize
    limit = memory_size()
    if limit is not None and need > limit:
        raise ValueError(
            f"{name} = {value} needs {what} of shape {tuple(shape)} ({_bytes(need)}), "
            f"more than this machine's memory ({_bytes(limit)})"
        )


def trailing_size(value, ndim=None):
    """Size of the last axis of a parameter as set by hand, or None.

    None when the value has no last axis (a scalar, a string, a ragged list)
    or, with ``ndim``, not exactly ``ndim`` axes: the parameter's own check
    then reports it by name. Used to infer ``n_features`` from a parameter.
    """
    try:
        shape = np.shape(value)
    except ValueError:  # ragged nested lists
        return None
    if len(shape) == 0 or (ndim is not None and len(shape) != ndim):
        return None
    return shape[-1]


def check_shape(value, name, shape):
    """Check a float parameter array's exact shape and finiteness."""
    arr = as_float_array(value, name)
    if arr.shape != tuple(shape):
        raise ValueError(
            f"{name} must have shape {tuple(shape)}, got shape {arr.shape}"
        )
    return arr


def check_real(value, name, minimum=None, allow_inf=False):
    """Return ``value`` as a Python float, checking it is >= minimum.

    NaN is always rejected, +-inf unless ``allow_inf``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if np.isnan(value):
        raise ValueError(f"{name} must be a number, got NaN")
    if not allow_inf and np.isinf(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return value


#: What each kind of prior argument must be (see :func:`check_prior`).
PRIOR_BOUNDS = {
    # Dirichlet concentrations: > 0 (1: no prior; below 1 the MAP estimate
    # may put a probability at 0, as hmmlearn's does).
    "concentration": (0.0, False, "a Dirichlet concentration; 1 is no prior"),
    # Weights of a prior, in pseudo-observations: >= 0 (0: no prior).
    "weight": (0.0, True, "a prior's weight in pseudo-observations; 0 is no prior"),
}


def check_prior(value, name, shape=None, strict=False, kind=None):
    """Check a prior hyper-parameter: a finite real scalar or array.

    Parameters
    ----------
    value : float or array-like
    name : str
    shape : tuple of int, optional
        The shape of the parameter the prior is on.
    strict : bool
        With ``shape``: require ``value`` to broadcast to exactly ``shape``
        (otherwise only to be broadcast-compatible with it).
    kind : {None, "concentration", "weight"}
        ``"concentration"``: every entry > 0; ``"weight"``: every entry >= 0
        (:data:`PRIOR_BOUNDS`).

    Returns
    -------
    value : ndarray of float64
    """
    arr = as_float_array(value, name)
    if shape is not None:
        shape = tuple(shape)
        try:
            out = np.broadcast_shapes(arr.shape, shape)
        except ValueError:
            out = None
        if out is None or (strict and out != shape):
            raise ValueError(
                f"{name} must be a scalar or an array broadcastable to shape "
                f"{shape}, got shape {arr.shape}"
            )
    if kind is not None:
        low, closed, meaning = PRIOR_BOUNDS[kind]
        bad = arr < low if closed else arr <= low
        if np.any(bad):
            raise ValueError(
                f"{name} must be {'>=' if closed else '>'} {low:g} ({meaning}), "
                f"got {arr[bad].flat[0]:g}"
                + (f" among its {arr.size} entries" if arr.size > 1 else "")
            )
    return arr


def check_inputs(inputs, X, lengths, n_samples, name="inputs"):
    """Covariates aligned with the rows of ``X``, as the kernels take them.

    The one rule for ``inputs=`` and ``transition_inputs=``: an array of
    shape (n_samples, n_inputs) aligned with X's rows, or (n_samples,) for
    one input; when X is a list of sequences, a list of such arrays, one per
    sequence, each with as many rows as its sequence.

    Parameters
    ----------
    inputs : None, array-like, or list of array-like
    X : the ``X`` the user gave (before :func:`check_sequences`)
    lengths : the ``lengths`` the user gave
    n_samples : int
        Rows of the concatenated X.
    name : str
        The argument's name in messages.

    Returns
    -------
    ndarray of shape (n_samples, n_inputs), float64, C-contiguous, or None

    Raises
    ------
    ValueError, TypeError
        Naming ``name``: wrong shape, rows not aligned with X, a list that
        does not match X's sequences, NaN or inf.
    """
    if inputs is None:
        return None
    if _is_sequence_list(X, lengths, "X"):
        if not isinstance(inputs, (list, tuple)):
            raise TypeError(
                f"{name} must be a list of arrays (one per sequence) when X is a "
                f"list of sequences, got {type(inputs).__name__}"
            )
        if len(inputs) != len(X):
            raise ValueError(
                f"{name} must hold one array per sequence of X ({len(X)}), "
                f"got {len(inputs)}"
            )
        parts = [
            input_rows(u, f"{name}[{i}]", np.shape(x)[0])
            for i, (u, x) in enumerate(zip(inputs, X))
        ]
        if len({p.shape[1] for p in parts}) != 1:
            raise ValueError(f"the arrays of {name} must all have the same columns")
        return np.ascontiguousarray(np.concatenate(parts, axis=0))
    return input_rows(inputs, name, n_samples)


def input_rows(u, name, n_rows):
    """One array of inputs: 2-D float64 with ``n_rows`` rows, finite."""
    arr = as_float_array(u, name, ndim=(1, 2))
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.shape[0] != n_rows:
        raise ValueError(
            f"{name} must have one row per sample of X ({n_rows}), got "
            f"{arr.shape[0]} rows"
        )
    if arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one column, got 0")
    return arr


def row_count(X):
    """Rows of an array-like (its first axis), or None when it has none."""
    try:
        shape = np.shape(X)
    except ValueError:  # ragged
        return None
    return int(shape[0]) if len(shape) >= 1 else None
