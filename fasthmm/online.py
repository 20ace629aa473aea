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
"""

from ._validation import check_real
from .em import expected_stats, maximize
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
    return Stats(
        start=stats.start * factor,
        trans=stats.trans * factor,
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

    def blended(self, batch, eta):
        """The state after blending ``batch`` with weight ``eta``."""
        per_sample = scaled(batch, 1.0 / batch.n_samples)
        average = scaled(self.average, 1.0 - eta) + scaled(per_sample, eta)
        return Running(average, self.t + 1, self.n_seen + batch.n_samples)

    def total(self):
        """The running statistics scaled to the samples seen."""
        return scaled(self.average, float(self.n_seen))


def partial_fit(model, X, lengths, inputs=None, transition_inputs=None):
    """One stepwise-EM update of ``model`` from a batch (see the module notes)."""
    emission = model._check_hyperparameters()
    if model.transition_inputs:
        raise NotImplementedError(
            "partial_fit is not offered for input-driven transitions "
            "(transition_inputs=True): use fit"
        )
    running = getattr(model, "_online", None)
    blocks = model._blocks(X, lengths, inputs, transition_inputs)
    if blocks is None:
        X, starts = model._read_data(emission, X, lengths, inputs)
        emission.with_data(X)
        n_rows = X.shape[0]

        def e_fn(p):
            return expected_stats(p, X, starts)

        def sample():
            return X
    else:
        blocks.prepare(emission)
        n_rows = blocks.n_rows
        e_fn = blocks.expected_stats

        def sample():
            return blocks.sample(emission)

    emission.check_hyperparameters()
    if running is None:
        k = model.n_components
        if n_rows < k:
            raise ValueError(
                f"n_components = {k} exceeds the number of samples ({n_rows}) of "
                "the first batch: every state needs data"
            )
        params = model._initialized(emission, sample())
    else:
        params = model._checked(model._current_params(), emission)
    batch = e_fn(params)
    if running is None:
        running = Running(scaled(batch, 1.0 / batch.n_samples), 1, batch.n_samples)
    else:
        eta = step_size(model.learning_offset, model.learning_decay, running.t + 1)
        running = running.blended(batch, eta)
    params = maximize(params, running.total(), model.params)
    model._set_params(params, _online=running)
    return model


__all__ = ["check_learning_rate", "partial_fit", "step_size"]
