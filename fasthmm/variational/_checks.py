"""Checks of the variational models' prior arguments and posterior parameters."""

import numpy as np

from .._validation import as_float_array, check_prior


def check_positive(value, name, shape):
    """A finite float array of exactly ``shape`` whose entries are all > 0."""
    arr = as_float_array(value, name)
    if arr.shape != tuple(shape):
        raise ValueError(
            f"{name} must have shape {tuple(shape)}, got shape {arr.shape}"
        )
    if np.any(arr <= 0):
        idx = tuple(int(i) for i in np.argwhere(arr <= 0)[0])
        where = f"{name}[{', '.join(map(str, idx))}]" if idx else name
        raise ValueError(f"{name} must be > 0, got {where} = {arr[idx]!r}")
    return arr


def check_optional_prior(value, name, shape, minimum=0.0):
    """A constructor prior argument: None (the default) or a finite scalar or
    array broadcastable to ``shape`` with every entry > ``minimum``.

    Returns
    -------
    None or ndarray of shape ``shape``
    """
    if value is None:
        return None
    arr = check_prior(value, name, shape, strict=True)
    if np.any(arr <= minimum):
        raise ValueError(f"{name} must be > {minimum:g}, got {value!r}")
    return np.broadcast_to(arr, shape).astype(np.float64)


def prior_or_default(value, default, shape):
    """A fresh array of ``shape``: the prior argument if given, else ``default``."""
    return np.array(
        np.broadcast_to(default if value is None else value, shape), dtype=np.float64
    )
