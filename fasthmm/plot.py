"""Pictures of fitted models (needs matplotlib: ``pip install "fasthmm[plot]"``).

Every function draws on the Axes it is given (a new figure when none is) and
returns the Axes it drew on, so a figure can be composed and styled with
matplotlib as usual. State ``k`` has the same colour in every function
(matplotlib's default colour cycle, ``C0``, ``C1``, ...).

- :func:`states`: a series coloured by its decoded states, with the state
  posteriors beneath;
- :func:`transition_matrix`: the transition matrix as a heatmap;
- :func:`convergence`: the EM objective per iteration;
- :func:`selection`: AIC and BIC against the number of states;
- :func:`emission_densities`: each state's emission density of one feature;
- :func:`segments`: the decoded segments as bars, one row per state;
- :func:`durations`: each state's distribution of segment durations;
- :func:`forecast`: a series, its predictive mean after the end and a fan
  of quantile bands.
"""

import numpy as np

__all__ = [
    "convergence",
    "durations",
    "emission_densities",
    "forecast",
    "segments",
    "selection",
    "states",
    "transition_matrix",
]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "fasthmm.plot needs matplotlib, the [plot] extra: "
            'pip install "fasthmm[plot]" (or pip install matplotlib)'
        ) from None
    return plt


def _axes(ax):
    return _pyplot().subplots()[1] if ax is None else ax


def _colour(k):
    return f"C{k % 10}"


def _series_axis(X, time, feature):
    """``(X, time, time label, value label)`` of what :func:`states` draws.

    A :class:`fasthmm.datasets.Dataset` gives its ``X``, ``time`` and units;
    a pandas DataFrame or Series its values, its index as time (unless it is
    the default 0, 1, ... index) and its column name; an explicit ``time``
    wins.
    """
    value_label, time_label = f"feature {feature}", "step"
    index = None
    if hasattr(X, "time") and hasattr(X, "X"):  # a bundled Dataset
        index, value_label, time_label = X.time, X.units, "year"
        X = X.X
    elif hasattr(X, "index") and hasattr(X, "to_numpy"):  # pandas
        columns = getattr(X, "columns", None)
        name = columns[feature] if columns is not None else getattr(X, "name", None)
        if name is not None:
            value_label = str(name)
        if type(X.index).__name__ != "RangeIndex":
            index = X.index.to_numpy()
            time_label = str(X.index.name) if X.index.name is not None else "time"
        X = X.to_numpy()
    if time is not None:
        index = np.asarray(time)
        time_label = "time" if time_label == "step" else time_label
    return X, index, time_label, value_label


def states(model, X, lengths=None, *, time=None, feature=0, algorithm=None, axes=None):
    """A series with its decoded states, and the state posteriors beneath.

    Parameters
    ----------
    model : fitted fasthmm model
    X : array-like of shape (n_samples, n_features), a list of sequences, a
        pandas DataFrame or Series, or a :class:`fasthmm.datasets.Dataset`
        (whose ``time`` and units label the axes).
    lengths : array-like of int, optional
    time : array-like of shape (n_samples,), optional
        The x coordinate of each sample (numbers or dates); default: a
        Dataset's ``time``, a DataFrame's index, else the step 0, 1, ...
    feature : int
        The column of ``X`` drawn in the top panel (labelled with its
        DataFrame column name).
    algorithm : {"viterbi", "map"}, optional
        Decoder of the colours (default: the model's).
    axes : pair of matplotlib Axes, optional
        Top (series) and bottom (posteriors) panels; a new figure with two
        rows sharing the x axis when omitted.

    Returns
    -------
    (ax_series, ax_posteriors) : tuple of matplotlib Axes
        ``ax_series`` holds each sequence as a grey line and one point per
        sample coloured by its decoded state; ``ax_posteriors`` one line per
        state and sequence: p(z_t = k | X), in the state's colour. A dotted
        vertical line marks the start of every sequence after the first.
    """
    X, t, time_label, value_label = _series_axis(X, time, feature)
    _, decoded = model.decode(X, lengths, algorithm=algorithm)
    post = model.predict_proba(X, lengths)
    from ._validation import check_sequences

    samples, lengths = check_sequences(X, lengths)
    samples = np.asarray(samples, dtype=float)
    series = samples.reshape(len(samples), -1)[:, feature]
    starts = np.concatenate(
        ([0], np.cumsum([len(series)] if lengths is None else lengths))
    )
    if t is None:
        t = np.arange(len(series))
    elif len(t) != len(series):
        raise ValueError(
            f"time must have one entry per sample ({len(series)}), got {len(t)}"
        )
    if axes is None:
        plt = _pyplot()
        _, axes = plt.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": (2, 1)})
    ax_series, ax_post = axes
    for i, (lo, hi) in enumerate(zip(starts[:-1], starts[1:])):
        ax_series.plot(t[lo:hi], series[lo:hi], color="0.7", linewidth=0.8, zorder=1)
        for k in range(post.shape[1]):
            label = f"state {k}" if i == 0 else None
            ax_post.plot(t[lo:hi], post[lo:hi, k], color=_colour(k), label=label)
        if i > 0:
            for ax in axes:
                ax.axvline(t[lo], color="0.4", linestyle=":", linewidth=0.8)
    colours = [_colour(k) for k in decoded]
    ax_series.scatter(t, series, c=colours, s=8, zorder=2)
    ax_series.set_ylabel(value_label)
    ax_post.set_ylim(-0.02, 1.02)
    ax_post.set_ylabel("posterior")
    ax_post.set_xlabel(time_label)
    ax_post.legend(loc="upper right", fontsize="small", ncol=min(post.shape[1], 5))
    return ax_series, ax_post


def transition_matrix(model, *, ax=None, annotate=True):
    """The transition matrix as a heatmap (row: from, column: to).

    Returns
    -------
    ax : matplotlib Axes
        Holding one image of ``model.transmat_`` (values in [0, 1]) and, with
        ``annotate``, each probability as text.
    """
    ax = _axes(ax)
    transmat = np.asarray(model.transmat_)
    image = ax.imshow(transmat, vmin=0.0, vmax=1.0, cmap="Blues")
    if annotate:
        for (i, j), p in np.ndenumerate(transmat):
            colour = "white" if p > 0.6 else "black"
            ax.text(j, i, f"{p:.2f}", ha="center", va="center", color=colour)
    k = transmat.shape[0]
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xlabel("to state")
    ax.set_ylabel("from state")
    ax.figure.colorbar(image, ax=ax)
    return ax


def convergence(model, *, ax=None):
    """The EM objective (log-likelihood plus log prior) per iteration.

    Returns
    -------
    ax : matplotlib Axes
        One line: iteration (1, 2, ...) against ``model.monitor_.history``.
    """
    ax = _axes(ax)
    history = np.asarray(model.monitor_.history, dtype=float)
    ax.plot(np.arange(1, len(history) + 1), history, marker="o")
    ax.set_xlabel("EM iteration")
    ax.set_ylabel("objective")
    return ax


def selection(result, *, ax=None):
    """AIC and BIC against the number of states, from ``select_n_components``.

    Parameters
    ----------
    result : fasthmm.SelectionResult

    Returns
    -------
    ax : matplotlib Axes
        Two lines labelled "AIC" and "BIC" over ``result.k_values``, and a
        vertical line at ``result.best_k``.
    """
    ax = _axes(ax)
    ks = np.asarray(result.k_values)
    ax.plot(ks, result.aic, marker="o", label="AIC")
    ax.plot(ks, result.bic, marker="s", label="BIC")
    ax.axvline(
        result.best_k, color="0.5", linestyle="--", label=f"best K = {result.best_k}"
    )
    ax.set_xticks(ks)
    ax.set_xlabel("number of states")
    ax.set_ylabel("criterion (lower is better)")
    ax.legend()
    return ax


def _gaussian_marginals(model, feature):
    """Per state (and mixture component): mean, variance of one feature."""
    ctype = model.covariance_type
    cov = np.asarray(model.covars_, dtype=float)
    means = np.asarray(model.means_, dtype=float)[..., feature]
    if ctype == "spherical":
        var = cov
    elif ctype == "diag":
        var = cov[..., feature]
    elif ctype == "full":
        var = cov[..., feature, feature]
    else:  # tied: (D, D) for GaussianHMM, (K, D, D) for GMMHMM
        var = np.broadcast_to(cov[..., feature, feature], means.shape[:1])
        if means.ndim == 2:  # GMM: one matrix per state, shared by components
            var = np.repeat(var[:, None], means.shape[1], axis=1)
    return means, np.broadcast_to(var, means.shape)


def emission_densities(model, X=None, *, feature=0, state=None, ax=None):
    """Each state's emission density (probabilities for discrete data).

    Parameters
    ----------
    model : fitted GaussianHMM, GMMHMM, PoissonHMM or CategoricalHMM
    X : array-like, optional
        Data drawn as a normalised histogram behind the densities.
    feature : int
        The feature whose marginal density is drawn (ignored by
        CategoricalHMM).
    state : int, optional
        Draw only this state.

    Returns
    -------
    ax : matplotlib Axes
        One line per drawn state, labelled "state k": the density of
        ``feature`` (Gaussian, GMM) or the probability of each count or
        symbol (Poisson, Categorical).
    """
    from .models import GMMHMM, CategoricalHMM, GaussianHMM, PoissonHMM

    ax = _axes(ax)
    k_all = range(model.n_components) if state is None else [int(state)]
    samples = None
    if X is not None:
        from ._validation import check_sequences

        samples, _ = check_sequences(X, None)
        samples = np.asarray(samples, dtype=float).reshape(len(samples), -1)
    if isinstance(model, CategoricalHMM):
        symbols = np.arange(model.emissionprob_.shape[1])
        if samples is not None:
            counts = np.bincount(samples[:, 0].astype(int), minlength=len(symbols))
            ax.bar(symbols, counts / counts.sum(), color="0.85", label="data")
        for k in k_all:
            ax.plot(symbols, model.emissionprob_[k], marker="o", color=_colour(k),
                    label=f"state {k}")  # fmt: skip
        ax.set_xlabel("symbol")
        ax.set_ylabel("probability")
    elif isinstance(model, PoissonHMM):
        lam = np.asarray(model.lambdas_, dtype=float)[:, feature]
        top = lam.max() + 4 * np.sqrt(lam.max()) + 2
        if samples is not None:
            top = max(top, samples[:, feature].max())
            counts = np.bincount(samples[:, feature].astype(int))
            ax.bar(np.arange(len(counts)), counts / counts.sum(), color="0.85",
                   label="data")  # fmt: skip
        n = np.arange(int(top) + 1)
        log_fact = np.concatenate([[0.0], np.cumsum(np.log(np.maximum(n[1:], 1)))])
        for k in k_all:
            pmf = (
                np.exp(n * np.log(lam[k]) - lam[k] - log_fact)
                if lam[k] > 0
                else (n == 0).astype(float)
            )
            ax.plot(n, pmf, marker="o", color=_colour(k), label=f"state {k}")
        ax.set_xlabel(f"count (feature {feature})")
        ax.set_ylabel("probability")
    elif isinstance(model, (GaussianHMM, GMMHMM)):
        means, var = _gaussian_marginals(model, feature)
        weights = (
            np.asarray(model.weights_, dtype=float)
            if isinstance(model, GMMHMM)
            else np.ones((model.n_components, 1))
        )
        means = means.reshape(model.n_components, -1)
        var = var.reshape(model.n_components, -1)
        sd = np.sqrt(var)
        lo, hi = (means - 4 * sd).min(), (means + 4 * sd).max()
        if samples is not None:
            col = samples[:, feature]
            lo, hi = min(lo, col.min()), max(hi, col.max())
            ax.hist(col, bins=40, density=True, color="0.85", label="data")
        grid = np.linspace(lo, hi, 400)
        for k in k_all:
            z = (grid[:, None] - means[k]) / sd[k]
            pdf = (weights[k] * np.exp(-0.5 * z**2) / (sd[k] * np.sqrt(2 * np.pi))).sum(
                1
            )
            ax.plot(grid, pdf, color=_colour(k), label=f"state {k}")
        ax.set_xlabel(f"feature {feature}")
        ax.set_ylabel("density")
    else:
        raise TypeError(
            "emission_densities draws GaussianHMM, GMMHMM, PoissonHMM and "
            f"CategoricalHMM models, got {type(model).__name__}"
        )
    ax.legend(fontsize="small")
    return ax


def segments(model, X, lengths=None, *, ax=None):
    """The decoded segments (runs of one state) as horizontal bars.

    Works for any model: a semi-Markov model's segments are its best
    segmentation, an HMM's the runs of its Viterbi path.

    Returns
    -------
    ax : matplotlib Axes
        One bar per segment, on the row of its state, from the row of ``X``
        where it starts (left edge) for as many steps as it lasts (width),
        in its state's colour; segments never cross a sequence boundary.
    """
    from .hsmm import segments as runs

    ax = _axes(ax)
    starts, lasts, labels = runs(model.predict(X, lengths), lengths)
    ax.barh(
        labels,
        lasts,
        left=starts,
        height=0.8,
        color=[_colour(k) for k in labels],
    )
    ax.set_yticks(range(model.n_components))
    ax.set_xlabel("step")
    ax.set_ylabel("state")
    return ax


def durations(model, *, max_duration=None, ax=None):
    """Each state's distribution of segment durations, P(d) for d = 1, 2, ...

    A semi-Markov model's ``durationprob_``; for an HMM, the geometric
    distribution its self-transitions imply, ``(1 - a_kk) a_kk**(d - 1)``.

    Parameters
    ----------
    max_duration : int, optional
        Longest duration drawn (default: the model's ``max_duration``, or
        20 for an HMM).

    Returns
    -------
    ax : matplotlib Axes
        One line per state (in order), duration d = 1..max_duration against
        its probability.
    """
    ax = _axes(ax)
    pmf = getattr(model, "durationprob_", None)
    if pmf is None:
        stay = np.diag(np.asarray(model.transmat_, dtype=float))[:, None]
        d = np.arange(1, (20 if max_duration is None else max_duration) + 1)
        pmf = (1.0 - stay) * stay ** (d - 1)
    else:
        pmf = np.asarray(pmf, dtype=float)[:, :max_duration]
    d = np.arange(1, pmf.shape[1] + 1)
    for k, row in enumerate(pmf):
        ax.plot(d, row, marker=".", color=_colour(k), label=f"state {k}")
    ax.set_xlabel("duration (steps)")
    ax.set_ylabel("probability")
    ax.legend()
    return ax


def forecast(
    model,
    X,
    steps=8,
    *,
    time=None,
    feature=0,
    quantiles=None,
    n_draws=2000,
    history=None,
    random_state=None,
    inputs=None,
    transition_inputs=None,
    future_inputs=None,
    future_transition_inputs=None,
    ax=None,
):
    """A series, its predictive mean after the end, and a fan of quantile bands.

    The mean is :meth:`~fasthmm.BaseHMM.forecast` (exact). The bands are
    the empirical quantiles of ``n_draws`` continuations drawn from the
    model: the state at the end drawn from its filtered distribution, the
    chain run on, an observation drawn at each step (a Monte Carlo
    estimate: more draws, smoother bands). For a mixture of Gaussians the
    predictive distribution is not Gaussian: two regimes far apart give a
    fan wider than either, or two-humped.

    Parameters
    ----------
    model : a fitted model
    X : array-like of shape (n_samples, n_features), or a Dataset
        One sequence (a :class:`fasthmm.datasets.Dataset` gives its time
        axis and units).
    steps : int >= 1
        Steps forecast after the end.
    time : array-like of shape (n_samples,), optional
        Time of each row; the future continues with the last spacing.
        Default: the Dataset's ``time``, else the row number.
    feature : int
        The feature drawn.
    quantiles : sequence of float in (0, 1), optional
        Paired from the outside in (first with last, ...): each pair is a
        band, the outer ones lighter. Empty: no bands (and no draws).
        Default: (0.05, 0.25, 0.75, 0.95) for a model that can draw
        continuations, none for the others (semi-Markov models, and models
        that forecast their own way without drawing).
    n_draws : int
    history : int, optional
        Number of observed rows drawn before the forecast (default all).
    random_state : None, int, RandomState or Generator
        Default: the model's ``random_state``.
    inputs, transition_inputs, future_inputs, future_transition_inputs :
        As in :meth:`~fasthmm.BaseHMM.forecast` (optional).
    ax : matplotlib Axes, optional

    Returns
    -------
    ax : matplotlib Axes
        Lines: the observed series (label "observed"), then the predictive
        mean (label "forecast mean", at the ``steps`` future times); one
        filled band per pair of quantiles.
    """
    from ._validation import check_int
    from .forecast import check_steps

    steps = check_steps(steps)
    n_draws = check_int(n_draws, "n_draws", 1)
    if quantiles is None:
        quantiles = (0.05, 0.25, 0.75, 0.95) if _draws_continuations(model) else ()
    qs = np.asarray(quantiles, dtype=float).ravel()
    if qs.size and (np.any(qs <= 0) or np.any(qs >= 1) or qs.size % 2):
        raise ValueError(
            "quantiles must be an even number of values in (0, 1) (pairs "
            f"from the outside in), got {list(qs)}"
        )
    X, index, time_label, value_label = _series_axis(X, time, feature)
    X = np.asarray(X)
    X = X[:, None] if X.ndim == 1 else X
    t = np.arange(X.shape[0], dtype=float) if index is None else np.asarray(index)
    if t.shape[0] != X.shape[0]:
        raise ValueError(
            f"time must have one value per row of X ({X.shape[0]}), got {t.shape[0]}"
        )
    step = t[-1] - t[-2] if t.shape[0] > 1 else 1.0
    future = t[-1] + step * np.arange(1, steps + 1)
    future_args = {
        "inputs": inputs,
        "transition_inputs": transition_inputs,
        "future_inputs": future_inputs,
        "future_transition_inputs": future_transition_inputs,
    }
    given = {name: value for name, value in future_args.items() if value is not None}
    mean = model.forecast(X, steps=steps, **given)[0, :, feature]
    ax = _axes(ax)
    first = (
        0 if history is None else max(0, X.shape[0] - check_int(history, "history", 1))
    )
    ax.plot(t[first:], X[first:, feature], color="0.2", label="observed")
    if qs.size:
        draws = _forecast_draws(model, X, steps, n_draws, random_state, future_args)
        bands = np.quantile(draws[0, :, :, feature], qs, axis=0)
        for i in range(qs.size // 2):
            ax.fill_between(
                future,
                bands[i],
                bands[-1 - i],
                color="C0",
                alpha=0.15 + 0.2 * i,
                linewidth=0,
                label=f"{qs[i]:g}-{qs[-1 - i]:g} quantiles",
            )
    ax.plot(future, mean, color="C0", marker=".", label="forecast mean")
    ax.set_xlabel(time_label)
    ax.set_ylabel(value_label)
    ax.legend()
    return ax


def _draws_continuations(model):
    """Whether ``model`` draws continuations for the fan: a BaseHMM whose
    forecast means are the default mixture (i.i.d. emissions), or which
    draws its own. Semi-Markov models (no chain of the states alone) and
    models that forecast their own way do not."""
    from .base import BaseHMM
    from .hsmm.base import BaseHSMM

    if not isinstance(model, BaseHMM) or isinstance(model, BaseHSMM):
        return False
    cls = type(model)
    return (
        cls._forecast_means is BaseHMM._forecast_means
        or cls._forecast_draws is not BaseHMM._forecast_draws
    )


def _forecast_draws(model, X, steps, n_draws, random_state, future_args):
    """Continuations of one sequence drawn from the model (see
    :meth:`fasthmm.BaseHMM._forecast_draws`)."""
    from ._validation import check_random_state

    if not _draws_continuations(model):
        raise NotImplementedError(
            "quantile bands need continuations drawn from the model, not "
            f"available for {type(model).__name__}: pass quantiles=() for the "
            "mean alone"
        )
    params, X, starts, chain = model._state_forecast(
        X,
        None,
        steps,
        future_args["future_transition_inputs"],
        future_args["inputs"],
        future_args["transition_inputs"],
    )
    rng = check_random_state(
        model.random_state if random_state is None else random_state
    )
    return model._forecast_draws(
        params, X, starts, chain, n_draws, rng, future_args["future_inputs"]
    )
