"""Forecasts: the hidden state and the observations after the end of sequences.

The state ``h`` steps after the end of a sequence has the distribution of the
filtered state of its last row, ``p(z_T | x_1..x_T)``, carried ``h`` times
through the transition matrix: exact, with no observation after ``T``. The
predictive mean of an observation is the mixture, over that distribution, of
each state's emission mean (:meth:`fasthmm.emissions.Emission.state_means`);
models whose emissions depend on the past (autoregressions) override
:meth:`fasthmm.BaseHMM._forecast_means`.

Future inputs (``future_inputs``, ``future_transition_inputs``) are given per
sequence and per step after its end: an array of shape (steps, n_inputs) when
there is one sequence, (n_sequences, steps, n_inputs), or a list of
n_sequences arrays of shape (steps, n_inputs).
"""

from typing import NamedTuple

import numpy as np

from ._validation import as_float_array, check_int, check_stochastic_rows
from .input_transitions import log_transmats

__all__ = ["StateForecast", "forecast_states"]


class StateForecast(NamedTuple):
    """The chain's part of a forecast, as models pass it to their hooks.

    Attributes
    ----------
    filtered : ndarray of shape (n_sequences, n_components)
        ``p(z_T | x_1..x_T)`` at the last row ``T`` of each sequence.
    transmats : ndarray of shape (n_sequences, steps, n_components, n_components)
        ``transmats[n, h]`` is the transition matrix into step ``h + 1``
        after the end of sequence ``n`` (a read-only broadcast view of
        ``transmat_`` for a stationary chain: no copy).
    proba : ndarray of shape (n_sequences, steps, n_components)
        ``proba[n, h] = p(z_{T+h+1} | x_1..x_T)``: what
        :meth:`fasthmm.BaseHMM.forecast_proba` returns.
    """

    filtered: np.ndarray
    transmats: np.ndarray
    proba: np.ndarray


def propagate(filtered, transmats):
    """State distributions of the steps after the end (checked inputs).

    Parameters
    ----------
    filtered : ndarray of shape (n_sequences, n_components)
    transmats : ndarray of shape (n_sequences, steps, n_components, n_components)

    Returns
    -------
    proba : ndarray of shape (n_sequences, steps, n_components)
    """
    n, steps, k, _ = transmats.shape
    proba = np.empty((n, steps, k))
    p = filtered[:, None, :]
    for h in range(steps):
        p = p @ transmats[:, h]
        proba[:, h] = p[:, 0]
    return proba


def stationary_transmats(transmat, n_sequences, steps):
    """``transmat`` as the (n_sequences, steps, K, K) stack of a stationary
    chain: a broadcast view, no copy."""
    k = transmat.shape[0]
    return np.broadcast_to(transmat, (n_sequences, steps, k, k))


def state_forecast(filtered, transmats):
    """A :class:`StateForecast` from the filtered last rows and the transitions."""
    return StateForecast(filtered, transmats, propagate(filtered, transmats))


def check_steps(steps):
    """``steps`` as an int >= 1 (public boundary)."""
    return check_int(steps, "steps", 1)


def check_future(value, name, n_sequences, steps, n_columns=None):
    """Future inputs as an array of shape (n_sequences, steps, n_columns).

    Parameters
    ----------
    value : array-like or list of array-like
        (steps, n_columns) for one sequence, (n_sequences, steps, n_columns),
        or a list of n_sequences arrays of shape (steps, n_columns); a 1-D
        array of length ``steps`` is one column of one sequence.
    name : str
        The argument's name, for the messages.
    n_sequences, steps : int
    n_columns : int, optional
        The number of inputs the model was fitted with.

    Returns
    -------
    ndarray of float64 of shape (n_sequences, steps, n_columns)

    Raises
    ------
    ValueError
        Naming ``name`` and the expected shape.
    """
    if isinstance(value, (list, tuple)) and n_sequences > 1:
        if len(value) != n_sequences:
            raise ValueError(
                f"{name} must hold one array per sequence ({n_sequences}), "
                f"got {len(value)}"
            )
        value = np.stack(
            [
                as_float_array(v, f"{name}[{i}]", ndim=(1, 2))
                for i, v in enumerate(value)
            ]
        )
    arr = as_float_array(value, name, ndim=(1, 2, 3))
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim == 2:
        arr = arr[None]
    want = (n_sequences, steps)
    if arr.shape[:2] != want or (n_columns is not None and arr.shape[2] != n_columns):
        columns = "n_inputs" if n_columns is None else n_columns
        raise ValueError(
            f"{name} must have shape ({n_sequences}, {steps}, {columns}) (one row "
            f"per sequence and step after its end), or be a list of "
            f"{n_sequences} arrays of shape ({steps}, {columns}); got shape "
            f"{arr.shape}"
        )
    return np.ascontiguousarray(arr)


def input_transmats(transcoef, future_transition_inputs, n_sequences, steps):
    """Transition matrices of the steps after the end, from their
    transition inputs (input-driven transitions).

    Parameters
    ----------
    transcoef : ndarray of shape (n_components, n_components, n_inputs)
    future_transition_inputs : array-like
        As :func:`check_future` takes it (named so in its messages).
    n_sequences, steps : int

    Returns
    -------
    ndarray of shape (n_sequences, steps, n_components, n_components)
        Softmax over rows of ``transcoef @ w`` for each future row ``w``.
    """
    k, _, d = transcoef.shape
    w = check_future(
        future_transition_inputs, "future_transition_inputs", n_sequences, steps, d
    )
    log = log_transmats(transcoef, w.reshape(n_sequences * steps, d))
    return np.exp(log).reshape(n_sequences, steps, k, k)


def refuse_future(value, name, what):
    """Raise when future inputs are given to a model that uses none."""
    if value is not None:
        raise ValueError(
            f"{name} given, but this model's {what} use no inputs: leave it out"
        )


def forecast_states(filtered, transmat, steps=1):
    """State distributions of the steps after the end of sequences.

    The functional form of :meth:`fasthmm.BaseHMM.forecast_proba`:
    ``out[n, h] = filtered[n] @ transmat_1 @ ... @ transmat_{h+1}``.

    Parameters
    ----------
    filtered : array-like of shape (n_components,) or (n_sequences, n_components)
        Filtered state probabilities of the last row of each sequence (e.g.
        the last rows of :func:`fasthmm.forward_filter`'s output).
    transmat : array-like of shape (n_components, n_components), or (steps,
        n_components, n_components) for a time-varying chain
        (``transmat[h]`` leads into step ``h + 1``)
    steps : int >= 1
        Number of steps after the end; with a stack of matrices, their number.

    Returns
    -------
    proba : ndarray of shape (n_sequences, steps, n_components)
        One sequence when ``filtered`` is 1-D (n_sequences = 1).

    Examples
    --------
    >>> import numpy as np, fasthmm
    >>> fasthmm.forecast_states([1.0, 0.0], [[0.9, 0.1], [0.2, 0.8]], steps=2)
    array([[[0.9 , 0.1 ],
            [0.83, 0.17]]])
    """
    steps = check_steps(steps)
    f = as_float_array(filtered, "filtered", ndim=(1, 2))
    f = f[None] if f.ndim == 1 else f
    k = f.shape[1]
    check_stochastic_rows(f, f.shape, "filtered")
    t = as_float_array(transmat, "transmat", ndim=(2, 3))
    if t.ndim == 2:
        t = stationary_transmats(check_stochastic_rows(t, (k, k), "transmat"), 1, steps)
    else:
        if t.shape != (steps, k, k):
            raise ValueError(
                f"transmat must have shape ({k}, {k}) or (steps, {k}, {k}) = "
                f"({steps}, {k}, {k}), got shape {t.shape}"
            )
        for h in range(steps):
            check_stochastic_rows(t[h], (k, k), f"transmat[{h}]")
        t = t[None]
    return propagate(f, np.broadcast_to(t, (f.shape[0], steps, k, k)))
