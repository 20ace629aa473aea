"""Online (stepwise) EM: ``partial_fit`` on batches of data that keep arriving.

Each call runs the usual E-step on the new batch (:func:`fasthmm.em.expected_stats`,
or the blocks of :mod:`fasthmm._batches` when the batch is larger than the
memory budget), blends its statistics into running statistics and runs the
usual M-step (:func:`fasthmm.em.maximize`): the stepwise EM of Sato and
Ishii (2000) and Cappé and Moulines (2009), as in Liang and Klein (2009).

The running statistics are an average per sample: with the batch's
statistics ``s_t`` over ``n_t`` samples and step size
``eta_t = (learning_offset + t) ** -learning_decay`` (scikit-learn's names,
as in its online LDA),

    r_t = (1 - eta_t) r_{t-1} + eta_t s_t / n_t,

and the M-step maximises ``N_t r_t`` where ``N_t`` is the number of samples
seen so far, so that priors weigh against all the data seen (as in a batch
fit), not against one batch. ``learning_decay`` in (0.5, 1] makes the step
sizes sum to infinity and their squares converge (Robbins-Monro), so the
parameters converge to a stationary point of the likelihood of the stream.

Input-driven transitions (``transition_inputs=True``) have no fixed-size
sufficient statistics: the M-step of ``transcoef_`` (a weighted multinomial
logistic regression per row, :func:`fasthmm.input_transitions.logistic_rows`)
needs the expected transition counts of every step with the step's inputs.
Their running statistics are therefore the steps themselves
(:class:`~fasthmm.input_transitions.StepCounts`), each weighted as stepwise EM
weighs its batch, which is exact; steps with equal transition inputs are
merged (exact: the regression's objective is linear in the counts of one
input row) and steps without counts (first rows) dropped, so inputs that
take few values (an intercept, categories, calendar effects) keep a few rows
whatever the length of the stream. Continuous inputs keep one row per step
(the cost of each M-step grows with them): beyond :func:`max_steps` rows
(:data:`MAX_STEPS`, 100,000, or fewer within ``memory_budget``) the oldest
are dropped and the counts kept
rescaled, row by row of ``transcoef_``, to the total they had, so the
regression weighs the recent steps as the whole stream (an approximation
that only then departs from stepwise EM). Each call then takes the
M-step's Newton steps (with step-halving) from the current ``transcoef_``.
"""

import numpy as np

from ._batches import budget_of
from ._validation import check_real
from .em import expected_stats, maximize
from .input_transitions import StepCounts
from .stats import Stats


def check_learning_rate(learning_offset, learning_decay):
    """Check ``learning_offset`` >= 0 and ``learning_decay`` in (0.5, 1]."""
    check_real(learning_offset, "learning_offset", 0.0)
    decay = check_real(learning_decay, "learning_decay")
    if not 0.5 < decay <= 1.0:
        raise ValueError(f"learning_decay must be in (0.5, 1], got {decay!r}")


def step_size(learning_offset, learning_decay, t):
    """Weight of the ``t``-th batch (t = 1, 2, ...) in the running statistics."""
    return float(learning_offset + t) ** -float(learning_decay)


def scaled(stats, factor):
    """``factor * stats`` (every sum multiplied; counts kept)."""
    if not isinstance(stats, Stats):  # statistics of another kind scale themselves
        return stats.scaled(factor)
    trans = stats.trans
    if isinstance(trans, StepCounts):
        trans = StepCounts(trans.xi * factor, trans.w)
    else:
        trans = trans * factor
    return Stats(
        start=stats.start * factor,
        trans=trans,
        emission={k: v * factor for k, v in stats.emission.items()},
        log_likelihood=stats.log_likelihood * factor,
        n_sequences=stats.n_sequences,
        n_samples=stats.n_samples,
    )


class Running:
    """The state of online EM kept on the model between calls.

    Attributes
    ----------
    average : Stats
        Running statistics per sample.
    t : int
        Number of batches blended in.
    n_seen : int
        Samples seen.
    """

    def __init__(self, average, t, n_seen):
        self.average = average
        self.t = t
        self.n_seen = n_seen

    def blended(self, batch, eta, max_rows):
        """The state after blending ``batch`` with weight ``eta`` (per-step
        transition counts kept in at most ``max_rows`` rows, see
        :func:`kept_steps`)."""
        per_sample = scaled(batch, 1.0 / batch.n_samples)
        average = scaled(self.average, 1.0 - eta) + scaled(per_sample, eta)
        return Running(
            compacted(average, max_rows), self.t + 1, self.n_seen + batch.n_samples
        )

    def total(self):
        """The running statistics scaled to the samples seen."""
        return scaled(self.average, float(self.n_seen))


#: Most per-step rows the running statistics of input-driven transitions keep
#: (each M-step's cost grows with them).
MAX_STEPS = 100_000


def max_steps(model, n_transition_inputs):
    """Most per-step rows the running statistics of input-driven transitions
    keep: :data:`MAX_STEPS`, or fewer when a quarter of the model's
    ``memory_budget`` holds fewer rows of ``n_components**2 +
    n_transition_inputs`` float64."""
    k = model.n_components
    rows = budget_of(model) // (32 * (k * k + n_transition_inputs))
    return max(1, min(MAX_STEPS, rows))


def kept_steps(counts, max_rows):
    """Per-step transition counts merged and bounded (see the module notes).

    Parameters
    ----------
    counts : StepCounts
        Oldest steps first.
    max_rows : int

    Returns
    -------
    StepCounts
        One row per distinct input row with counts (ordered by its newest
        occurrence), summing the counts of its occurrences; of those, the
        newest ``max_rows``, their counts rescaled per row of ``transcoef_``
        to the totals of all of them.
    """
    xi, w = counts.xi, counts.w
    live = xi.sum(axis=(1, 2)) > 0.0
    xi, w = xi[live], w[live]
    if not xi.shape[0]:
        return StepCounts(xi, w)
    order = np.lexsort(w.T[::-1])  # equal input rows side by side
    ws = w[order]
    bounds = np.flatnonzero(np.r_[True, np.any(ws[1:] != ws[:-1], axis=1)])
    merged = np.add.reduceat(xi[order], bounds, axis=0)
    newest = np.maximum.reduceat(order, bounds)  # each input row's last step
    by_age = np.argsort(newest, kind="stable")[-max_rows:]  # oldest first
    kept = merged[by_age]
    if by_age.shape[0] < merged.shape[0]:
        total = merged.sum(axis=(0, 2))
        now = kept.sum(axis=(0, 2))
        kept *= (total / np.where(now > 0.0, now, 1.0))[None, :, None]
    return StepCounts(
        np.ascontiguousarray(kept), np.ascontiguousarray(w[newest[by_age]])
    )


def compacted(stats, max_rows):
    """``stats`` with per-step transition counts :func:`kept_steps` (others
    as they are)."""
    if not isinstance(stats, Stats):  # statistics of another kind compact themselves
        return stats.compacted(max_rows)
    if not isinstance(stats.trans, StepCounts):
        return stats
    return Stats(
        start=stats.start,
        trans=kept_steps(stats.trans, max_rows),
        emission=stats.emission,
        log_likelihood=stats.log_likelihood,
        n_sequences=stats.n_sequences,
        n_samples=stats.n_samples,
    )


def partial_fit(model, X, lengths, inputs=None, transition_inputs=None):
    """One stepwise-EM update of ``model`` from a batch (see the module notes)."""
    emission = model._check_hyperparameters()
    running = getattr(model, "_online", None)
    blocks = model._blocks(X, lengths, inputs, transition_inputs)
    if blocks is None:
        X, starts, w = model._read_batch(
            emission, X, lengths, inputs, transition_inputs
        )
        emission.with_data(X)
        n_rows = X.shape[0]

        def e_fn(p):
            return expected_stats(p, X, starts, w=w)

        def sample():
            return X, w
    else:
        blocks.prepare(emission)
        n_rows = blocks.n_rows
        e_fn = blocks.expected_stats

        def sample():
            return blocks.sample(emission), blocks.sample_transition_rows()

    emission.check_hyperparameters()
    if running is None:
        k = model.n_components
        if n_rows < k:
            raise ValueError(
                f"n_components = {k} exceeds the number of samples ({n_rows}) of "
                "the first batch: every state needs data"
            )
        X0, w0 = sample()
        params = model._initialized(emission, X0, w=w0)
    else:
        params = model._checked(model._current_params(), emission)
    batch = e_fn(params)
    max_rows = max_steps(model, getattr(batch.trans, "w", np.empty((0, 0))).shape[1])
    if running is None:
        first = scaled(batch, 1.0 / batch.n_samples)
        running = Running(compacted(first, max_rows), 1, batch.n_samples)
    else:
        eta = step_size(model.learning_offset, model.learning_decay, running.t + 1)
        running = running.blended(batch, eta, max_rows)
    params = maximize(params, running.total(), model.params)
    model._set_params(params, _online=running)
    return model


__all__ = ["check_learning_rate", "kept_steps", "max_steps", "partial_fit", "step_size"]
