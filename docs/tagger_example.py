"""Train an HMM tagger from labelled sequences and decode held-out ones.

Run with ``python docs/tagger_example.py``; docs/tagger.md shows its output.

1. A known CategoricalHMM (4 hidden tags, 30 symbols) generates 200 labelled
   training sequences and 100 held-out sequences of 50 steps.
2. ``fit(X, lengths, states=tags)`` trains a tagger from the labelled
   sequences in one pass (counts of start tags, tag pairs and symbols per tag).
3. Viterbi decoding of the held-out sequences with the tagger, with the true
   model, and, for contrast, with a model fitted by unsupervised EM on the
   same sequences without their tags (its states matched to tags by the best
   permutation).
"""

import itertools

import numpy as np

from fasthmm import CategoricalHMM

K, N_SYMBOLS = 4, 30
N_TRAIN, N_TEST, LENGTH = 200, 100, 50


def true_model(rng):
    """A 4-tag HMM with sticky tags and overlapping symbol distributions."""
    model = CategoricalHMM(K, n_features=N_SYMBOLS)
    model.startprob_ = rng.dirichlet(np.ones(K))
    model.transmat_ = 0.6 * np.eye(K) + 0.4 * rng.dirichlet(np.ones(K), size=K)
    model.emissionprob_ = rng.dirichlet(np.full(N_SYMBOLS, 0.3), size=K)
    return model


def draw(model, n_sequences, rng):
    """Labelled sequences: (X of shape (n, 1), tags of shape (n,), lengths)."""
    pairs = [model.sample(LENGTH, random_state=rng) for _ in range(n_sequences)]
    X = np.concatenate([x for x, _ in pairs])
    tags = np.concatenate([z for _, z in pairs])
    return X, tags, np.full(n_sequences, LENGTH)


def best_permutation_accuracy(predicted, tags):
    """Accuracy of unsupervised states under the best state -> tag mapping."""
    return max(
        np.mean(np.asarray(perm)[predicted] == tags)
        for perm in itertools.permutations(range(K))
    )


def main():
    rng = np.random.default_rng(0)
    truth = true_model(rng)
    X, tags, lengths = draw(truth, N_TRAIN, rng)
    X_test, tags_test, lengths_test = draw(truth, N_TEST, rng)
    print(
        f"training: {N_TRAIN} sequences x {LENGTH} steps = {tags.size} tokens; "
        f"held out: {tags_test.size} tokens; {K} tags, {N_SYMBOLS} symbols"
    )

    # Supervised fit: one pass over the labelled corpus. A Dirichlet prior of
    # 1.5 on the emissions adds 0.5 to every (tag, symbol) count, so a symbol
    # never seen with a tag in training is unlikely but not impossible.
    tagger = CategoricalHMM(K, n_features=N_SYMBOLS, emissionprob_prior=1.5)
    tagger.fit(X, lengths, states=tags)
    print(
        f"supervised fit: monitor_.history = {tagger.monitor_.history} "
        f"(one value: log p(X, tags) + log prior)"
    )
    err = np.abs(tagger.transmat_ - truth.transmat_).max()
    print(f"largest error in transmat_: {err:.3f}")

    acc_tagger = np.mean(tagger.predict(X_test, lengths_test) == tags_test)
    acc_truth = np.mean(truth.predict(X_test, lengths_test) == tags_test)

    # The same sequences without their tags: Baum-Welch from a random start.
    em = CategoricalHMM(K, n_features=N_SYMBOLS, n_iter=200, tol=1e-4, random_state=1)
    em.fit(X, lengths)
    acc_em = best_permutation_accuracy(em.predict(X_test, lengths_test), tags_test)

    print()
    print("per-token accuracy on the held-out sequences (Viterbi decoding)")
    print(f"  true model                       {acc_truth:.4f}")
    print(f"  tagger, fit(..., states=tags)    {acc_tagger:.4f}")
    print(
        f"  unsupervised EM, best relabeling {acc_em:.4f}  ({em.monitor_.iter} "
        f"iterations, converged: {em.monitor_.converged})"
    )
    chance = np.bincount(tags_test).max() / tags_test.size
    print(f"  most frequent tag everywhere     {chance:.4f}")


if __name__ == "__main__":
    main()
