"""Fit one model on a dask.distributed cluster (the ``[dask]`` extra).

``fit(model, client, partitions)`` runs the usual EM loop
(:func:`fasthmm.em.run_em`) with an E-step spread over the workers:

1. Each partition is a zero-argument picklable callable returning
   ``(X, lengths)`` for whole sequences (for example
   ``functools.partial(load_part, path)``), or ``(X, lengths, inputs)``, or
   a dict with keys ``"X"``, ``"lengths"`` and optionally ``"inputs"`` and
   ``"transition_inputs"`` (rows aligned with X, as ``model.fit`` takes
   them). It runs on a worker, and the
   checked result stays there (a future held by the client), so the data
   never passes through the client.
2. The number of features (the number of symbols for categorical data) is
   agreed from the partitions' summaries, and each partition is checked
   against it; a partition that disagrees is named in the error.
3. Initialisation (the parameters named in ``init_params``) uses a sample
   gathered from the partitions: from each of the ``n`` partitions, the rows
   :func:`fasthmm._batches.sample_ranges` picks with ``size = ceil(100_000 /
   n)`` and ``n_slices = ceil(100 / n)`` (every row when the partition is no
   larger), concatenated in partition order. When all the data has at most
   100,000 rows per partition quota, the sample is all of it and the
   initialisation equals that of a local fit on the concatenated partitions.
4. Each iteration sends the parameters with each task (not scattered, so
   that a lost worker's tasks can be re-run from their description), gets
   the statistics of every partition back through a fixed pairwise tree of
   additions (:class:`fasthmm.stats.Stats` add up), and runs the M-step on
   the client. The result equals a local fit on the concatenated partitions
   from the same start, to rounding (the sums are taken in another order),
   and ``monitor_`` records the same history.

A worker that dies mid-fit costs only time: dask re-runs the lost tasks,
loaders included, on the workers left (loaders must therefore be
repeatable). A loader that raises stops the fit with a ``ValueError`` naming
the partition's index and the loader's message. As with every fit, the
model keeps its previous parameters when the fit raises.
"""

import math
import operator

import numpy as np

from ._batches import (
    INIT_SAMPLE_ROWS,
    INIT_SLICES,
    implied_n_features,
    joined,
    sample_ranges,
)
from ._missing import gaps_of, is_gapped, marked
from .em import ConvergenceMonitor, expected_stats, run_em
from .emissions import Emission

__all__ = ["fit"]

INSTALL_HINT = 'pip install "fasthmm[dask]"'


def _require_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            "fasthmm.distributed needs dask.distributed, which is not installed: "
            f"{INSTALL_HINT}"
        ) from exc
    return distributed


# -- tasks run on the workers ---------------------------------------------------
def _unpack(out):
    """(X, lengths, inputs, transition_inputs) of what a loader returned, or
    None when it is none of the accepted forms."""
    if isinstance(out, dict) and "X" in out:
        extra = set(out) - {"X", "lengths", "inputs", "transition_inputs"}
        if extra:
            return None
        return tuple(
            out.get(key) for key in ("X", "lengths", "inputs", "transition_inputs")
        )
    if isinstance(out, tuple) and len(out) in (2, 3):
        return (*out, None, None)[:4]
    return None


def _call_loader(index, loader):
    """(X, lengths, inputs, transition_inputs) returned by partition
    ``index``'s loader; a ValueError naming the partition when it raises or
    returns something else."""
    try:
        out = loader()
    except Exception as exc:  # noqa: BLE001 - reported with the partition's index
        raise ValueError(
            f"partition {index}: its loader raised {type(exc).__name__}: {exc}"
        ) from None
    unpacked = _unpack(out)
    if unpacked is None:
        raise ValueError(
            f"partition {index}: the loader must return a tuple (X, lengths), "
            "(X, lengths, inputs) or a dict with keys X, lengths, inputs, "
            f"transition_inputs, got {type(out).__name__}"
            + (f" of length {len(out)}" if isinstance(out, tuple) else "")
        )
    return unpacked


def _load(index, loader, emission, model):
    """Run partition ``index``'s loader and check what it returns:
    (X as the emission sees it, starts, transition inputs or None)."""
    X, lengths, inputs, transition_inputs = _call_loader(index, loader)
    try:
        X, starts, w = model._read_batch(
            emission, X, lengths, inputs, transition_inputs
        )
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"partition {index}: {exc}") from None
    # Missing entries: their grouping travels with the partition (dask's
    # transport of an array drops the mark that the emission reads).
    return X, starts, w, gaps_of(X) if is_gapped(X) else None


def _data(part):
    """(X, starts, transition inputs or None) of a loaded partition, its
    missing entries marked."""
    X, starts, w, gaps = part
    if gaps is not None and not is_gapped(X):
        X = marked(X, True)
        X._gaps = gaps  # grouped once, on loading
    return X, starts, w


def _summary(part, emission):
    """(n_rows, n_features implied by the partition's samples)."""
    X = _data(part)[0]
    return X.shape[0], implied_n_features(emission, X)


def _checked(part, emission, index):
    """Check partition ``index`` against the agreed ``n_features``."""
    try:
        emission.check_X(_data(part)[0])
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"partition {index}: {exc}") from None
    return True


def _sample(part, size, n_slices):
    """(rows of the initialisation sample, whether they may miss entries,
    their transition inputs or None)."""
    X, _, w = _data(part)
    ranges = sample_ranges(X.shape[0], size, n_slices)
    rows = joined([X[lo:hi] for lo, hi in ranges])
    if w is not None:
        w = np.concatenate([w[lo:hi] for lo, hi in ranges], axis=0)
    return rows, is_gapped(X), w


def _stats(params, part, index):
    X, starts, w = _data(part)
    try:
        return expected_stats(params, X, starts, w=w)
    except ValueError as exc:
        raise ValueError(f"partition {index}: {exc}") from None


# -- the client side ---------------------------------------------------------------
def _check_partitions(partitions):
    if not isinstance(partitions, (list, tuple)):
        raise TypeError(
            "partitions must be a list of zero-argument callables returning "
            f"(X, lengths), got {type(partitions).__name__}"
        )
    if len(partitions) == 0:
        raise ValueError("partitions must hold at least one partition, got none")
    for i, p in enumerate(partitions):
        if not callable(p):
            raise TypeError(
                f"partitions[{i}] must be a zero-argument callable returning "
                f"(X, lengths), got {type(p).__name__}"
            )
    return list(partitions)


def _agree_n_features(emission, summaries):
    """Set ``emission.n_features`` from the partitions when still unknown."""
    if emission.n_features is not None:
        return
    implied = [n for _, n in summaries]
    if type(emission)._n_features_of is Emission._n_features_of:
        for i, n in enumerate(implied):
            if n != implied[0]:
                raise ValueError(
                    f"partition {i} has {n} features, partition 0 has {implied[0]}: "
                    "every partition must have the same number of columns"
                )
        emission._n_features = implied[0]
    else:  # read off the values (number of symbols): the largest
        emission._n_features = max(implied)


def _tree_sum(client, futures):
    """Sum futures pairwise in a fixed tree, on the workers."""
    while len(futures) > 1:
        pairs = []
        for j in range(0, len(futures), 2):
            if j + 1 < len(futures):
                pairs.append(client.submit(operator.add, futures[j], futures[j + 1]))
            else:
                pairs.append(futures[j])
        futures = pairs
    return futures[0]


# -- models with statistics of their own (MarkovSwitchingAR) --------------------
def _load_own(index, loader, model):
    """Partition ``index`` checked by the model (``model._read_partition``)."""
    X, lengths, inputs, transition_inputs = _call_loader(index, loader)
    try:
        return model._read_partition(X, lengths, inputs, transition_inputs)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"partition {index}: {exc}") from None


def _own_stats(model, params, part, index):
    try:
        return model._batch_stats(params, part)
    except ValueError as exc:
        raise ValueError(f"partition {index}: {exc}") from None


def _fit_own_statistics(model, client, partitions):
    """:func:`fit` of a model whose E-step gives statistics of its own kind,
    which add up (``+``), through its hooks: ``_read_partition(X, lengths,
    inputs, transition_inputs)`` (on the worker: a checked batch),
    ``_partition_sample(batch, size, n_slices)`` (the rows of the
    initialisation sample), ``_initial_params(samples)``,
    ``_batch_stats(params, batch)``, ``_em(e_fn, params)`` and ``_commit``.
    Loading, sampling and the tree of additions are those of :func:`fit`."""
    model._check_hyperparameters()
    futures = []
    try:
        parts = [
            client.submit(_load_own, i, loader, model, pure=False)
            for i, loader in enumerate(partitions)
        ]
        futures += parts
        size = math.ceil(INIT_SAMPLE_ROWS / len(parts))
        n_slices = math.ceil(INIT_SLICES / len(parts))
        samples = client.gather(
            [
                client.submit(model._partition_sample, p, size, n_slices, pure=False)
                for p in parts
            ]
        )
        params = model._initial_params(samples)

        def e_fn(p):
            stats = [
                client.submit(_own_stats, model, p, part, i, pure=False)
                for i, part in enumerate(parts)
            ]
            return _tree_sum(client, stats).result()

        params, monitor = model._em(e_fn, params)
    finally:
        client.cancel(futures)
    return model._commit(params, monitor)


def fit(model, client, partitions):
    """Fit ``model`` by EM over partitions loaded and kept on dask workers.

    Parameters
    ----------
    model : fasthmm model (a :class:`fasthmm.base.BaseHMM` subclass, or a
        :class:`fasthmm.MarkovSwitchingAR`)
        Fitted in place; its ``n_iter``, ``tol``, ``params``,
        ``init_params`` and priors apply as in ``model.fit``.
    client : distributed.Client
    partitions : list of callable
        Zero-argument picklable callables, each returning ``(X, lengths)``
        for one partition of whole sequences (``lengths`` None: one
        sequence; ``X`` may also be a list of sequences with ``lengths``
        None, as in ``model.fit``), or ``(X, lengths, inputs)``, or a dict
        with keys ``"X"``, ``"lengths"``, ``"inputs"``,
        ``"transition_inputs"`` (the last two optional).

    Returns
    -------
    model

    Raises
    ------
    ImportError
        When dask.distributed is not installed.
    ValueError
        Naming the partition, when a loader raises, returns something other
        than a tuple ``(X, lengths)``, or returns data that fails the
        model's checks or disagrees with the other partitions. The model
        keeps its previous parameters.

    Notes
    -----
    See the module documentation for what runs where, the initialisation
    sample and what happens when a worker dies.
    """
    _require_distributed()
    partitions = _check_partitions(partitions)
    if hasattr(model, "_batch_stats"):
        return _fit_own_statistics(model, client, partitions)
    emission = model._check_hyperparameters()
    futures = []
    try:
        parts = [
            client.submit(_load, i, loader, emission, model, pure=False)
            for i, loader in enumerate(partitions)
        ]
        futures += parts
        summaries = client.gather(
            [client.submit(_summary, p, emission, pure=False) for p in parts]
        )
        _agree_n_features(emission, summaries)
        client.gather(
            [
                client.submit(_checked, p, emission, i, pure=False)
                for i, p in enumerate(parts)
            ]
        )
        n_rows = sum(n for n, _ in summaries)
        k = model.n_components
        if n_rows < k:
            raise ValueError(
                f"n_components = {k} exceeds the number of samples ({n_rows}): "
                "every state needs data"
            )
        emission.check_hyperparameters()
        size = math.ceil(INIT_SAMPLE_ROWS / len(parts))
        n_slices = math.ceil(INIT_SLICES / len(parts))
        samples = client.gather(
            [client.submit(_sample, p, size, n_slices, pure=False) for p in parts]
        )
        sample = joined([marked(rows, gapped) for rows, gapped, _ in samples])
        w = None if samples[0][2] is None else np.concatenate([u for *_, u in samples])
        per_row = sample.size // sample.shape[0]
        params = model._initialized(emission, sample, n_values=n_rows * per_row, w=w)

        def e_fn(p):
            stats = [
                client.submit(_stats, p, part, i, pure=False)
                for i, part in enumerate(parts)
            ]
            return _tree_sum(client, stats).result()

        monitor = ConvergenceMonitor(model.tol, model.n_iter, model.verbose)
        params = run_em(e_fn, params, model.params, monitor)
    finally:
        client.cancel(futures)
    return model._commit(params, monitor)
