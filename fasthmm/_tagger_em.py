"""Semi-supervised training of :class:`fasthmm.HMMTagger`: EM on unlabelled
text from the supervised start, run by fasthmm's EM loop
(:func:`fasthmm.em.run_em`) with the E-step and M-step of a
:class:`fasthmm.CategoricalHMM`.

The model EM sees is the tagger's *first-order view*: the chain states
(labels and lexicalised states), the first-order transitions counted on the
labelled text (kept fixed), and a categorical emission over the words of both
texts. The labelled text enters as a Dirichlet prior: the emission prior of
state ``s`` and word ``v`` is ``1 + c(v, s)``, the labelled counts, so the
M-step gives ``(c(v, s) + E[n(v, s)]) / total`` and the EM objective is the
log-likelihood of the unlabelled text plus the labelled text's complete-data
log-likelihood (up to a constant): it never decreases. EM starts from the
supervised tagger's word-label distributions (``p(s | v)``, smoothed by the
unknown-word model; for words of the unlabelled text only, that model alone).

The tagger then takes the labelled counts plus the expected counts of the
unlabelled text as its word-label counts (words new in the unlabelled text
join its vocabulary); its label chain stays the supervised one.
"""

import numpy as np

TRANS_SMOOTHING = 0.1  # added to the first-order counts of the fixed chain


def _first_order(states, starts, n_states):
    """Start and transition probabilities counted on labelled states."""
    start = np.bincount(states[starts[:-1]], minlength=n_states) + TRANS_SMOOTHING
    inner = np.ones(states.size - 1, dtype=bool)
    inner[starts[1:-1] - 1] = False  # pairs across a sentence boundary
    trans = np.full((n_states, n_states), TRANS_SMOOTHING)
    np.add.at(trans, (states[:-1][inner], states[1:][inner]), 1.0)
    return start / start.sum(), trans / trans.sum(axis=1, keepdims=True)


def run(states, starts, word_probs, counts, tokens, lengths, n_iter, tol):
    """EM over the unlabelled tokens.

    Parameters
    ----------
    states : (n_labelled,) int64
        State of each labelled token; ``starts`` its sentence offsets.
    word_probs : (V2, S) float64
        Supervised ``p(s | v)`` of every word of both texts.
    counts : (V2, S) float64
        Labelled word-state counts (zero rows for words new in the
        unlabelled text).
    tokens : (n_unlabelled,) int64
        Word ids (rows of ``word_probs``) of the unlabelled tokens.
    lengths : (n_sentences,) int64
        Lengths of the unlabelled sentences (none empty).
    n_iter, tol
        EM's iteration limit and convergence threshold.

    Returns
    -------
    monitor : fasthmm.em.ConvergenceMonitor
        ``history`` holds the EM objective of each iteration.
    expected : (V2, S) float64
        Posterior state counts of each word in the unlabelled text, under the
        parameters EM ends with.
    """
    from .em import ConvergenceMonitor, Params, expected_stats, run_em
    from .emissions.categorical import CategoricalEmission
    from .inference import Workspace
    from .transitions import Transitions

    n_words, n_states = counts.shape
    startprob, transmat = _first_order(states, starts, n_states)
    # supervised start: p(v | s) from p(s | v) and how often each word occurs
    freq = counts.sum(axis=1) + np.bincount(tokens, minlength=n_words)
    joint = (word_probs * freq[:, None]).T
    total = joint.sum(axis=1, keepdims=True)
    emission = np.where(total > 0, joint / np.where(total > 0, total, 1), 1 / n_words)
    params = Params(
        Transitions(n_states, startprob, transmat).checked(),
        CategoricalEmission(
            n_states,
            {"emissionprob_": emission},
            n_features=n_words,
            emissionprob_prior=1.0 + counts.T,
        ).checked(),
    )
    X = params.emission.check_X(tokens.reshape(-1, 1))
    u_starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ws = Workspace(u_starts, n_states)
    monitor = ConvergenceMonitor(tol, n_iter, verbose=False)
    params = run_em(
        lambda p: expected_stats(p, X, u_starts, ws=ws), params, "e", monitor
    )
    expected = expected_stats(params, X, u_starts, ws=ws).emission["obs"]
    return monitor, expected.T
